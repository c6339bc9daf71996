/* Reset for QEMU virt (RV32IMC, machine mode): global pointer, stack, clear .bss,
 * run C++ constructors (the tflm runtime has some), enter main. */
  .section .text.start, "ax"
  .globl _start
_start:
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
  la sp, __stack_top
  la t0, __bss_start__
  la t1, __bss_end__
1:
  bgeu t0, t1, 2f
  sw zero, 0(t0)
  addi t0, t0, 4
  j 1b
2:
  /* .preinit_array and .init_array are adjacent (riscv32_virt.ld): one walk. */
  la s0, __preinit_array_start
  la s1, __init_array_end
3:
  bgeu s0, s1, 4f
  lw t0, 0(s0)
  jalr t0
  addi s0, s0, 4
  j 3b
4:
  call main
5:
  wfi
  j 5b
