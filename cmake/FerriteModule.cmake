# ferrite_module(NAME SOURCES ... DEPS ...): one library per module of DESIGN.md's layer table.
# A module links only the modules it may use; tests/layering_check.cmake checks the includes.
function(ferrite_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(ferrite_${name} STATIC ${M_SOURCES})
  target_include_directories(ferrite_${name} PUBLIC
    ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_link_libraries(ferrite_${name} PUBLIC ${M_DEPS} PRIVATE ferrite_compile_options ${M_PRIVATE_DEPS})
endfunction()
