# The C kernels as the builtin module `hyperion_c`, for MicroPython's cmake ports (rp2, esp32): the same sources
# and flags as micropython.mk, which the make ports use (firmware/manifest.py names this folder with c_module).
add_library(usermod_hyperion INTERFACE)
target_sources(usermod_hyperion INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/module.c
    ${CMAKE_CURRENT_LIST_DIR}/rows.c
    ${CMAKE_CURRENT_LIST_DIR}/conv.c
    ${CMAKE_CURRENT_LIST_DIR}/floatops.c
    ${CMAKE_CURRENT_LIST_DIR}/attention.c
    ${CMAKE_CURRENT_LIST_DIR}/aes.c
)
target_include_directories(usermod_hyperion INTERFACE ${CMAKE_CURRENT_LIST_DIR})
target_compile_definitions(usermod_hyperion INTERFACE HYPERION_BUILTIN)
target_compile_options(usermod_hyperion INTERFACE -ffp-contract=off)
# the inner loops are built for speed, as in the .mpy (Makefile): the rest with the port's flags
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/rows.c ${CMAKE_CURRENT_LIST_DIR}/conv.c
    PROPERTIES COMPILE_OPTIONS -O2)
target_link_libraries(usermod INTERFACE usermod_hyperion)
