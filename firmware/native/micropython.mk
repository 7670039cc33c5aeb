# The C kernels compiled into a MicroPython firmware as the builtin module `hyperion_c` (firmware/manifest.py
# names this folder with c_module): their code stays in flash, where kernels/c.mpy is copied into RAM.
HYPERION_NATIVE := $(USERMOD_DIR)
SRC_USERMOD_C += $(addprefix $(HYPERION_NATIVE)/, module.c rows.c conv.c floatops.c attention.c aes.c)
CFLAGS_USERMOD += -I$(HYPERION_NATIVE) -DHYPERION_BUILTIN -ffp-contract=off
# the inner loops are built for speed, as in the .mpy (Makefile): the rest with the port's flags
$(BUILD)/native/rows.o $(BUILD)/native/conv.o: CFLAGS += -O2
