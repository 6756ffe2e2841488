package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.ThreadMXBean;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * LayerNorm and RMSNorm calls allocate nothing once compiled. The per-call shape used to be a new
 * {@code NormShape} (24 B a call, every call: the checks it passes through are not inlined, so escape
 * analysis kept it), which a transformer library calling LayerNorm per layer and token batch pays as garbage.
 * The test measures the calling thread's allocation over rounds of calls and passes when one late round
 * allocates (almost) nothing; it cannot pass while every call allocates, compiled or not.
 */
class LayerNormAllocationTest {
  private static final int ROWS = 8, FEATURES = 64, CALLS = 2000, ROUNDS = 40;

  @Test
  void steadyStateCallsAllocateNothing() {
    ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
    int n = ROWS * FEATURES;
    float[] x = new float[n], y = new float[n], dy = new float[n], dx = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (i * 37 % 101) * 0.01f;
      dy[i] = (i * 53 % 97) * 0.01f - 0.5f;
    }
    float[] gamma = new float[FEATURES], beta = new float[FEATURES], dGamma = new float[FEATURES], dBeta = new float[FEATURES];
    java.util.Arrays.fill(gamma, 1.5f);
    float[] mean = new float[ROWS], invStd = new float[ROWS], invRms = new float[ROWS];
    long best = Long.MAX_VALUE;
    for (int round = 0; round < ROUNDS && best > 0; round++) {
      long before = threads.getCurrentThreadAllocatedBytes();
      // A plain loop in this method, as an application's training loop would call: compiled on stack
      // replacement, where the calls are not always inlined into one unit (a lambda here hid the
      // allocation: escape analysis of the inlined whole removed it).
      for (int i = 0; i < CALLS; i++) {
        LayerNorm.forward(ROWS, FEATURES, x, 0, gamma, beta, 1e-3f, y, 0, mean, invStd);
        LayerNorm.backward(ROWS, FEATURES, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
        RmsNorm.forward(ROWS, FEATURES, x, 0, gamma, 1e-3f, y, 0, invRms);
        RmsNorm.backward(ROWS, FEATURES, x, 0, dy, 0, gamma, invRms, dx, 0, dGamma);
      }
      best = Math.min(best, threads.getCurrentThreadAllocatedBytes() - before);
    }
    // 4 calls a run: a NormShape per call would be 32,000 B+ a round.
    assertTrue(best < 4 * CALLS, "fewest bytes allocated in a round of " + 4 * CALLS + " calls: " + best);
  }
}
