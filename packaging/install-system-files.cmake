# Runs at install time (cmake --install, or CPack's staging install): the systemd
# units and the example config, whose paths depend on the install prefix.
#   prefix /usr (the package): units in /lib/systemd/system, config in /etc/stt;
#   any other prefix P: P/lib/systemd/system (systemd reads /usr/local/lib/systemd/system)
#   and P/etc/stt, unless CMAKE_INSTALL_SYSCONFDIR was given as an absolute path.
# Inputs: STT_PACKAGING_DIR, STT_STAGING_DIR, STT_SBINDIR, STT_SYSCONFDIR.
if(IS_ABSOLUTE "${STT_SYSCONFDIR}")
  set(etc "${STT_SYSCONFDIR}")
elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(etc "/etc")
else()
  set(etc "${CMAKE_INSTALL_PREFIX}/${STT_SYSCONFDIR}")
endif()
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(unitdir "/lib/systemd/system")
else()
  set(unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
if(IS_ABSOLUTE "${STT_SBINDIR}")
  set(STT_SBINDIR_FULL "${STT_SBINDIR}")
else()
  set(STT_SBINDIR_FULL "${CMAKE_INSTALL_PREFIX}/${STT_SBINDIR}")
endif()

file(MAKE_DIRECTORY "${STT_STAGING_DIR}")
set(STT_SBINDIR "${STT_SBINDIR_FULL}")
set(STT_UNIT_HEADER "sttd.service: sttd with ${etc}/stt/sttd.toml")
set(STT_UNIT_DESCRIPTION "STT tunnel endpoint")
set(STT_CONFIG "${etc}/stt/sttd.toml")
configure_file("${STT_PACKAGING_DIR}/systemd/sttd.service.in" "${STT_STAGING_DIR}/sttd.service"
               @ONLY)
set(STT_UNIT_HEADER "sttd@.service: sttd@NAME.service runs sttd with ${etc}/stt/NAME.toml")
set(STT_UNIT_DESCRIPTION "STT tunnel endpoint %i")
set(STT_CONFIG "${etc}/stt/%i.toml")
configure_file("${STT_PACKAGING_DIR}/systemd/sttd.service.in" "${STT_STAGING_DIR}/sttd@.service"
               @ONLY)
file(INSTALL "${STT_STAGING_DIR}/sttd.service" "${STT_STAGING_DIR}/sttd@.service"
     DESTINATION "${unitdir}" FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The example config is a conffile in the package. A plain `cmake --install` never
# overwrites a config an operator already has.
if(EXISTS "$ENV{DESTDIR}${etc}/stt/sttd.toml")
  message(STATUS "Keeping existing: $ENV{DESTDIR}${etc}/stt/sttd.toml")
else()
  file(INSTALL "${STT_PACKAGING_DIR}/sttd.toml" DESTINATION "${etc}/stt"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()
