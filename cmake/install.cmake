# What `cmake --install <build> --prefix P` puts into P (lib is CMAKE_INSTALL_LIBDIR):
#   include/convgrad/*.hpp        the public headers (version.hpp generated from project(VERSION))
#   lib/libconvgrad.a             the static library
#   lib/libconvgrad.so*           the shared library (CONVGRAD_SHARED)
#   bin/convgrad                  the command
#   share/man/man1/convgrad.1     its man page, and its bash and zsh completions:
#   share/bash-completion/completions/convgrad, share/zsh/site-functions/_convgrad
#   lib/cmake/convgrad/           the CMake package: find_package(convgrad) -> convgrad::convgrad
#   lib/pkgconfig/convgrad.pc     pkg-config --cflags --libs convgrad
# examples/cpp_consumer/ and tests/install/ show and check each way in.
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/convgrad DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/include/convgrad/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/convgrad)

set(CONVGRAD_INSTALL_LIBRARIES convgrad)
if(CONVGRAD_SHARED)
  list(APPEND CONVGRAD_INSTALL_LIBRARIES convgrad_shared)
endif()
install(TARGETS ${CONVGRAD_INSTALL_LIBRARIES} EXPORT convgradTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
if(TARGET convgrad_cli)
  install(TARGETS convgrad_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  # The man page and the completions the build generated from the command's parser
  # (cli/CMakeLists.txt), where man, bash-completion and zsh look for them.
  list(GET CONVGRAD_CLI_DOCS 0 CONVGRAD_MAN_PAGE)
  list(GET CONVGRAD_CLI_DOCS 1 CONVGRAD_BASH_COMPLETION)
  list(GET CONVGRAD_CLI_DOCS 2 CONVGRAD_ZSH_COMPLETION)
  install(FILES ${CONVGRAD_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  install(FILES ${CONVGRAD_BASH_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
    RENAME convgrad)
  install(FILES ${CONVGRAD_ZSH_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/site-functions)
endif()

# The CMake package, relocatable (every path in it is relative to its own directory).
set(CONVGRAD_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/convgrad)
install(EXPORT convgradTargets NAMESPACE convgrad:: DESTINATION ${CONVGRAD_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/convgradConfig.cmake.in
  ${PROJECT_BINARY_DIR}/convgradConfig.cmake INSTALL_DESTINATION ${CONVGRAD_CMAKE_DIR})
# Before 1.0 a minor version may change the interface, so only the same major.minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/convgradConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/convgradConfig.cmake ${PROJECT_BINARY_DIR}/convgradConfigVersion.cmake
  DESTINATION ${CONVGRAD_CMAKE_DIR})

# convgrad.pc: its prefix is found from the file's own place (${pcfiledir}), so the file is
# right for whatever --prefix the install is given; an absolute LIBDIR is written as is.
set(CONVGRAD_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE ${CMAKE_INSTALL_LIBDIR})
  set(CONVGRAD_PC_PREFIX ${CMAKE_INSTALL_PREFIX})
  set(CONVGRAD_PC_LIBDIR ${CMAKE_INSTALL_LIBDIR})
else()
  file(RELATIVE_PATH CONVGRAD_PC_UP /root/${CONVGRAD_PC_DIR} /root)
  set(CONVGRAD_PC_PREFIX "\${pcfiledir}/${CONVGRAD_PC_UP}")
  set(CONVGRAD_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE ${CMAKE_INSTALL_INCLUDEDIR})
  set(CONVGRAD_PC_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
else()
  set(CONVGRAD_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
set(CONVGRAD_PC_OPENMP ${OpenMP_CXX_FLAGS})
configure_file(${PROJECT_SOURCE_DIR}/cmake/convgrad.pc.in ${PROJECT_BINARY_DIR}/convgrad.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/convgrad.pc DESTINATION ${CONVGRAD_PC_DIR})
