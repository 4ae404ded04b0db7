include $(sort $(wildcard $(BR2_EXTERNAL_PANIER_PATH)/package/*/*.mk))
