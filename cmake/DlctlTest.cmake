# dlctl_add_test(NAME SOURCES... LABELS l1 [l2...]): a doctest executable linked with the engine, registered
# with CTest under the given labels.
# doctest's main, compiled once for every test executable.
add_library(dlctl_doctest_main OBJECT ${PROJECT_SOURCE_DIR}/tests/doctest_main.cpp)
target_link_libraries(dlctl_doctest_main PRIVATE doctest::doctest)

function(dlctl_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES} $<TARGET_OBJECTS:dlctl_doctest_main>)
  dlctl_link_layers(${name} export serve oci)
  target_link_libraries(${name} PRIVATE doctest::doctest)
  target_compile_definitions(${name} PRIVATE DLCTL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  if(T_TIMEOUT)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
  endif()
endfunction()
