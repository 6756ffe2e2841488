package dev.vecnorm.internal;

/**
 * Cache blocking shared by both implementations, so that scalar and vector
 * paths sweep memory in the same order and agree to rounding.
 */
final class Blocking {
  private Blocking() {}

  /**
   * Floats per statistics block. Two passes run over each block (mean, then squared deviations); 64 KiB
   * keeps the second pass in L2 on every x86/ARM core we target, while blocks stay long enough that
   * the per-block merge is a small fraction of the work.
   */
  static final int BLOCK_FLOATS = 16 * 1024;

  /** At least this many rows per channels-last block, so per-channel overhead amortizes for huge C. */
  static final int MIN_BLOCK_ROWS = 8;

  static int rowsPerBlock(int channels) {
    return Math.max(MIN_BLOCK_ROWS, BLOCK_FLOATS / channels);
  }

}
