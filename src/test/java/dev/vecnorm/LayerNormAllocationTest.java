package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.ThreadMXBean;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * LayerNorm and RMSNorm calls allocate nothing once compiled. The per-call shape used to be a new
 * {@code NormShape} (24 B a call, every call: the checks it passes through are not always inlined, so escape
 * analysis kept it), which a transformer library calling LayerNorm per layer and token batch pays as garbage.
 * The steady-state check runs in a fresh JVM ({@link ChildJvm}): in the shared test JVM, after other tests had
 * compiled these kernels with other shapes, one full run of the suite of six saw 192 B a call in every round
 * (cause not found; a fresh JVM shows 0), so there it would test the JVM's history, not this code.
 */
class LayerNormAllocationTest {
  private static final int ROWS = 8, FEATURES = 64, CALLS = 2000, ROUNDS = 40;

  /** The child JVM: per operation, the fewest bytes the calling thread allocated in a round of {@code CALLS} calls. */
  public static final class Probe {
    public static void main(String[] args) {
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
      long[] best = {Long.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE};
      for (int round = 0; round < ROUNDS && (best[0] | best[1] | best[2] | best[3]) != 0; round++) {
        // Plain loops, as an application's training loop would call: compiled on stack replacement, where the
        // calls are not always inlined into one unit (from a lambda the inlined whole lost the allocation to
        // escape analysis). One loop per operation, so a failure names the allocating one.
        long t0 = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < CALLS; i++) LayerNorm.forward(ROWS, FEATURES, x, 0, gamma, beta, 1e-3f, y, 0, mean, invStd);
        long t1 = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < CALLS; i++) LayerNorm.backward(ROWS, FEATURES, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
        long t2 = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < CALLS; i++) RmsNorm.forward(ROWS, FEATURES, x, 0, gamma, 1e-3f, y, 0, invRms);
        long t3 = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < CALLS; i++) RmsNorm.backward(ROWS, FEATURES, x, 0, dy, 0, gamma, invRms, dx, 0, dGamma);
        long t4 = threads.getCurrentThreadAllocatedBytes();
        best[0] = Math.min(best[0], t1 - t0);
        best[1] = Math.min(best[1], t2 - t1);
        best[2] = Math.min(best[2], t3 - t2);
        best[3] = Math.min(best[3], t4 - t3);
      }
      System.out.println(best[0] + " " + best[1] + " " + best[2] + " " + best[3]);
    }
  }

  @Test
  void steadyStateCallsAllocateNothing() throws Exception {
    String out = ChildJvm.run(Probe.class, 120, "--add-modules", "jdk.incubator.vector").stdout();
    String[] best = out.substring(out.lastIndexOf('\n') + 1).trim().split(" ");
    String[] names = {"LayerNorm forward", "LayerNorm backward", "RmsNorm forward", "RmsNorm backward"};
    for (int k = 0; k < names.length; k++) {
      // A NormShape per call would be 48,000 B+ a round.
      assertTrue(Long.parseLong(best[k]) < CALLS, names[k] + ": fewest bytes allocated in a round of " + CALLS + " calls: " + best[k]);
    }
  }

  /**
   * The forwards' wide rows (line-aligned loads, calls past 512 Ki floats) after a width that takes the one-vector step
   * (1008 features at 16 lanes; at 8 lanes this is the plain loop): a lane sum's vector boxed, 96 B a row, once C2 had
   * recompiled the row method for that step (twenty-fourth session). Per width, the fewest bytes a round of calls allocated.
   */
  public static final class WideProbe {
    public static void main(String[] args) {
      ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
      int[] features = {1008, 1000, 4100};
      int[] rows = {528, 528, 128};
      long[] best = new long[2 * features.length];
      java.util.Arrays.fill(best, Long.MAX_VALUE);
      float[][] x = new float[features.length][], y = new float[features.length][], gamma = new float[features.length][];
      for (int k = 0; k < features.length; k++) {
        int n = rows[k] * features[k];
        x[k] = new float[n];
        y[k] = new float[n];
        for (int i = 0; i < n; i++) x[k][i] = (i * 37 % 101) * 0.01f;
        gamma[k] = new float[features[k]];
        java.util.Arrays.fill(gamma[k], 1.5f);
      }
      for (int round = 0; round < WIDE_ROUNDS; round++) {
        for (int k = 0; k < features.length; k++) {
          int r = rows[k], f = features[k];
          float[] mean = new float[r], invStd = new float[r];
          long t0 = threads.getCurrentThreadAllocatedBytes();
          for (int i = 0; i < WIDE_CALLS; i++) LayerNorm.forward(r, f, x[k], 0, gamma[k], gamma[k], 1e-3f, y[k], 0, mean, invStd);
          long t1 = threads.getCurrentThreadAllocatedBytes();
          for (int i = 0; i < WIDE_CALLS; i++) RmsNorm.forward(r, f, x[k], 0, gamma[k], 1e-3f, y[k], 0, invStd);
          long t2 = threads.getCurrentThreadAllocatedBytes();
          best[2 * k] = Math.min(best[2 * k], t1 - t0);
          best[2 * k + 1] = Math.min(best[2 * k + 1], t2 - t1);
        }
      }
      StringBuilder out = new StringBuilder();
      for (long b : best) out.append(b).append(' ');
      System.out.println(out.toString().trim());
    }
  }

  private static final int WIDE_CALLS = 20, WIDE_ROUNDS = 25;

  @Test
  void wideRowsAfterAOneVectorStepAllocateNothing() throws Exception {
    String out = ChildJvm.run(WideProbe.class, 180, "--add-modules", "jdk.incubator.vector", "-Xmx1g").stdout();
    String[] best = out.substring(out.lastIndexOf('\n') + 1).trim().split(" ");
    String[] names = {"1008", "1000", "4100"};
    for (int k = 0; k < best.length; k++) {
      // One boxed vector a row would be 96 B x 128-528 rows x 20 calls: 245,000 B or more a round.
      String what = (k % 2 == 0 ? "LayerNorm" : "RmsNorm") + " forward at " + names[k / 2] + " features";
      assertTrue(Long.parseLong(best[k]) < 16L * WIDE_CALLS, what + ": fewest bytes allocated in a round of " + WIDE_CALLS + " calls: " + best[k]);
    }
  }

  @Test
  void oneTensorSizeReusesItsShape() {
    // The cause of the 24 B a call, checked without the JIT: the same size gives the same shape object.
    assertTrue(LayerNorm.shape(8, 64) == LayerNorm.shape(8, 64));
  }

  @Test
  void oneGroupShapeReusesItsTensorShape() {
    // GroupNorm's checks made a NormShape a call: 24 B a call in a probe running GroupNorm forward and backward over
    // several shapes (GnA, twenty-fourth session), though a child JVM calling it from plain loops saw escape analysis
    // remove it, so the cause is checked without the JIT, as above.
    GroupShape s = GroupShape.nchw(4, 100, 50, 10);
    assertTrue(GroupNorm.tensorShape(s) == GroupNorm.tensorShape(GroupShape.nchw(4, 100, 50, 10)));
    assertTrue(GroupNorm.tensorShape(s).equals(new NormShape(4, 100, 50)));
    assertTrue(GroupNorm.tensorShape(GroupShape.nhwc(4, 50, 100, 10)).equals(new NormShape(4, 100, 50)));
  }
}
