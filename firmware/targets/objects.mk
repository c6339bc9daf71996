# Object rules shared by the make-built targets (host, mps2-an386, riscv32-virt).
# The including Makefile sets APP_DIR, APP_SRCS (its application and board
# sources), OUT, CC, CXX, CPPFLAGS, CFLAGS and CXXFLAGS; RUNNER_SRCS and
# MODEL_SRCS come from the command line. Objects are named after their source's
# path with '/' turned into '_' (edgemb.targets.mapfile reads the parts from
# those names) and go to $(OUT).obj/. C++ sources (.cc/.cpp, the tflm runtime)
# are compiled with $(CXX), and then $(CXX) links.

.DEFAULT_GOAL := $(OUT)

ALL_SRCS := $(abspath $(APP_SRCS) $(RUNNER_SRCS) $(MODEL_SRCS))
CXX_SRCS := $(filter %.cc %.cpp,$(ALL_SRCS))
C_SRCS := $(filter %.c %.S,$(ALL_SRCS))

OBJ_DIR := $(OUT).obj
obj_of = $(OBJ_DIR)/$(subst /,_,$(1)).o
OBJS := $(foreach s,$(ALL_SRCS),$(call obj_of,$(s)))
LINKER := $(if $(CXX_SRCS),$(CXX),$(CC))

define c_rule
$(call obj_of,$(1)): $(1) $(wildcard $(APP_DIR)/*.h) | $(OBJ_DIR)
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) -c $$< -o $$@
endef
define cxx_rule
$(call obj_of,$(1)): $(1) $(wildcard $(APP_DIR)/*.h) | $(OBJ_DIR)
	$$(CXX) $$(CPPFLAGS) $$(CXXFLAGS) -c $$< -o $$@
endef
$(foreach s,$(C_SRCS),$(eval $(call c_rule,$(s))))
$(foreach s,$(CXX_SRCS),$(eval $(call cxx_rule,$(s))))

$(OBJ_DIR):
	mkdir -p $@

clean:
	rm -rf $(OUT) $(OBJ_DIR) $(OUT).map $(OUT).size

.PHONY: clean
