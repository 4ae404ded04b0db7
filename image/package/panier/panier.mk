################################################################################
#
# panier
#
################################################################################

PANIER_VERSION = 0.1.0
PANIER_SITE = $(BR2_EXTERNAL_PANIER_PATH)/..
PANIER_SITE_METHOD = local
PANIER_LICENSE = AGPL-3.0-or-later
PANIER_SUBDIR = agent

# The workspace's .cargo/config.toml points the target directory at a cache shared by the
# developers' machines: it must not reach the Buildroot build.
PANIER_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude .git --exclude .cargo --exclude target --exclude vendor \
	--exclude image --exclude buildroot-overlay

PANIER_VENDOR_DIR = $(call qstrip,$(BR2_PACKAGE_PANIER_VENDOR_DIR))

# Buildroot does not vendor the crates of a local package: use the ones vendored beforehand.
PANIER_CARGO_VENDORED_OPTS = \
	--offline \
	--config 'source.crates-io.replace-with="panier-vendored"' \
	--config 'source.panier-vendored.directory="$(PANIER_VENDOR_DIR)"'
PANIER_CARGO_BUILD_OPTS = $(PANIER_CARGO_VENDORED_OPTS) --bin panier
PANIER_CARGO_INSTALL_OPTS = $(PANIER_CARGO_VENDORED_OPTS) --bin panier

define PANIER_CHECK_VENDOR_DIR
	@test -d $(PANIER_VENDOR_DIR) || { \
		echo "panier: no vendored crates in $(PANIER_VENDOR_DIR);" \
		     "run image/scripts/vendor-crates.sh first"; exit 1; }
endef
PANIER_PRE_BUILD_HOOKS += PANIER_CHECK_VENDOR_DIR

# The service catalog (`catalog` in the overlay's panier.toml): one folder per service, read
# by the agent at start. The directory exists even while the repository has no catalog yet.
define PANIER_INSTALL_CATALOG
	mkdir -p $(TARGET_DIR)/usr/share/panier/services
	if [ -d $(@D)/services ]; then \
		cp -a $(@D)/services/. $(TARGET_DIR)/usr/share/panier/services/; \
	fi
endef
PANIER_POST_INSTALL_TARGET_HOOKS += PANIER_INSTALL_CATALOG

$(eval $(cargo-package))
