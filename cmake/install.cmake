# What `cmake --install` puts where (FHS, through GNUInstallDirs), the .deb CPack makes of it
# (`./run.sh package`), and `make uninstall`.
include(GNUInstallDirs)

# The man pages and the documents.
file(GLOB kt_man_pages ${PROJECT_SOURCE_DIR}/docs/man/*.1)
install(FILES ${kt_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/design.md
              ${PROJECT_SOURCE_DIR}/docs/formats.md ${PROJECT_SOURCE_DIR}/docs/threat-model.md
              ${PROJECT_SOURCE_DIR}/docs/benchmarks.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The seed toolsets' command names: links to keytransfer, which acts as the tool it is called
# (keytransfer(1), COMPATIBILITY). verifykeypackage.py is installed by verify/.
foreach(kt_seed new-world generatekey KeyTransferRemote)
    file(CREATE_LINK keytransfer ${PROJECT_BINARY_DIR}/${kt_seed} SYMBOLIC)
    install(FILES ${PROJECT_BINARY_DIR}/${kt_seed} DESTINATION ${CMAKE_INSTALL_BINDIR})
endforeach()

# bash completion, under each program's name (bash-completion loads it by command name).
set(kt_completions ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES ${PROJECT_SOURCE_DIR}/scripts/completion/keytransfer DESTINATION ${kt_completions})
foreach(kt_alias keytransfer-online keytransfer-cloud new-world generatekey KeyTransferRemote)
    file(CREATE_LINK keytransfer ${PROJECT_BINARY_DIR}/completion-${kt_alias} SYMBOLIC)
    install(FILES ${PROJECT_BINARY_DIR}/completion-${kt_alias} DESTINATION ${kt_completions}
            RENAME ${kt_alias})
endforeach()

# The Debian package: keytransfer_VERSION_ARCH.deb, its library dependencies found by
# dpkg-shlibdeps under Debian's own names.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME keytransfer)
set(CPACK_PACKAGE_VENDOR "keytransfer")
set(CPACK_PACKAGE_CONTACT "keytransfer maintainers <keytransfer@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "bring-your-own-key transfer into cloud HSMs from an air-gapped workstation")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "keytransfer moves a key you generated and control into a cloud HSM (Azure Key Vault and\n"
    "Managed HSM; AWS KMS and Google Cloud KMS) without the key ever being exposed: a software\n"
    "security world with a K-of-N administrator card quorum, vendor-attested KEK verification,\n"
    "ACL reduction and the .byok transfer package, plus the online upload tool.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3, python3-cryptography")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)

# make uninstall: removes what the last `cmake --install` wrote (install_manifest.txt).
if(NOT TARGET uninstall)
    add_custom_target(uninstall
        COMMAND ${CMAKE_COMMAND} -P ${PROJECT_SOURCE_DIR}/cmake/uninstall.cmake
        WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
        COMMENT "Removing the files of the last install")
endif()
