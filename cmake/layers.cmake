# The layering the build enforces (cmake/layers.txt, docs/testing.md).
#
# There is no include root for the whole tree: each layer's library gets its own
# root, build/include/<layer>/, holding one symbolic link per layer it may include
# (and one to itself), e.g. build/include/core/{wire,core}. The root is PUBLIC, so a
# target sees exactly the layers of the libraries it links. An `#include
# "daemon/..."` in src/core then fails to compile instead of slipping through;
# scripts/check-layering.py (ctest case `layering`) catches what the compiler
# cannot (headers nobody compiles yet, `../` paths).

set(STT_LAYERS_FILE ${CMAKE_CURRENT_LIST_DIR}/layers.txt)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${STT_LAYERS_FILE})

# Reads cmake/layers.txt into STT_LAYERS, STT_LAYER_DIR_<layer> and
# STT_LAYER_SEES_<layer> (itself, what its line allows, and the layers its
# exceptions reach).
macro(stt_read_layers)
  set(STT_LAYERS)
  file(STRINGS ${STT_LAYERS_FILE} _lines REGEX "^[a-z]")
  foreach(_line IN LISTS _lines)
    string(REGEX REPLACE "#.*" "" _line "${_line}")
    string(STRIP "${_line}" _line)
    string(REGEX REPLACE "[ \t]+" ";" _fields "${_line}")
    list(GET _fields 0 _first)
    if(_first STREQUAL "allow")
      list(GET _fields 1 _file)
      list(GET _fields 2 _header)
      string(REGEX REPLACE "/.*" "" _to "${_header}")
      foreach(_l IN LISTS STT_LAYERS)
        if(_file MATCHES "^${STT_LAYER_DIR_${_l}}/")
          list(APPEND STT_LAYER_SEES_${_l} ${_to})
        endif()
      endforeach()
    else()
      list(APPEND STT_LAYERS ${_first})
      list(GET _fields 1 STT_LAYER_DIR_${_first})
      list(REMOVE_AT _fields 0 1)
      set(STT_LAYER_SEES_${_first} ${_first} ${_fields})
    endif()
  endforeach()
endmacro()

# Adds the directory of every layer that exists and gives its library (stt_<layer>,
# when the directory defines one) its include root.
function(stt_add_layers)
  stt_read_layers()
  foreach(layer IN LISTS STT_LAYERS)
    set(dir ${STT_LAYER_DIR_${layer}})
    if(NOT EXISTS ${CMAKE_SOURCE_DIR}/${dir}/CMakeLists.txt)
      continue()
    endif()
    set(root ${CMAKE_BINARY_DIR}/include/${layer})
    file(REMOVE_RECURSE ${root})
    file(MAKE_DIRECTORY ${root})
    list(REMOVE_DUPLICATES STT_LAYER_SEES_${layer})
    foreach(seen IN LISTS STT_LAYER_SEES_${layer})
      file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${STT_LAYER_DIR_${seen}} ${root}/${seen} SYMBOLIC)
    endforeach()
    add_subdirectory(${dir})
    if(TARGET stt_${layer})
      get_target_property(type stt_${layer} TYPE)
      if(type STREQUAL "INTERFACE_LIBRARY")
        target_include_directories(stt_${layer} INTERFACE ${root})
      else()
        target_include_directories(stt_${layer} PUBLIC ${root})
      endif()
    endif()
  endforeach()
endfunction()
