# Run at every build (the dlctl_version target): the commit `dlctl --version` reports, written into
# generated/version.cpp only when it changed, so an unchanged tree rebuilds nothing.
#   cmake -DSOURCE_DIR=... -DTEMPLATE=... -DOUTPUT=... -P GitVersion.cmake
execute_process(COMMAND git describe --always --dirty --abbrev=12
                WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE DLCTL_GIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT DLCTL_GIT)
  set(DLCTL_GIT unknown)
endif()
configure_file(${TEMPLATE} ${OUTPUT} @ONLY)
