# switchyard_add_plugin(<target> SOURCES <files...>)
# Builds a Switchyard plugin as a MODULE library with the hygiene hot unloading needs:
# hidden visibility (only sy_plugin_entry is exported), no STB_GNU_UNIQUE symbols (they would
# pin the library in memory and share statics between plugins), and no undefined symbols.
function(switchyard_add_plugin target)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE Switchyard::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fno-gnu-unique>)
  endif()
  if(NOT APPLE)
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
    # Hidden visibility does not cover template instantiations and inline statics from
    # libstdc++ (std::vector<char>::_M_realloc_insert, shared_ptr typeinfo, to_chars tables):
    # they stay default-visibility weak symbols. A version script makes the export list exact.
    set(_sy_map ${CMAKE_CURRENT_BINARY_DIR}/${target}.exports.map)
    file(WRITE ${_sy_map} "{\n  global: sy_plugin_entry;\n  local: *;\n};\n")
    target_link_options(${target} PRIVATE -Wl,--version-script=${_sy_map})
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${_sy_map})
  endif()
endfunction()
