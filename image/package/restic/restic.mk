################################################################################
#
# restic
#
################################################################################

RESTIC_VERSION = 0.14.0
RESTIC_SITE = https://github.com/restic/restic/releases/download/v$(RESTIC_VERSION)
RESTIC_SOURCE = restic_$(RESTIC_VERSION)_linux_amd64.bz2
RESTIC_LICENSE = BSD-2-Clause

# A single compressed binary, not a tarball.
define RESTIC_EXTRACT_CMDS
	bzcat $(RESTIC_DL_DIR)/$(RESTIC_SOURCE) > $(@D)/restic
endef

define RESTIC_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/restic $(TARGET_DIR)/usr/bin/restic
endef

$(eval $(generic-package))
