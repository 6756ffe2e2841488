package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.ThreadMXBean;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * GroupNorm's channels-last forward after three other channels-last shapes in one JVM: batch norm's per-channel fold
 * (foldOnePositionPerChannel, run per sample) passed its non-finite check vector to our own lane-sum method, and where
 * C2 did not inline that call the vector was boxed, 96 B a sample, every call (NHWC 32x196x256 with 32 groups: 3072 B a
 * call; twenty-fourth session). Only this order of shapes, forward and backward alternating, showed it; the kernel mix
 * test runs other shapes. Fresh JVM ({@link ChildJvm}); the fewest bytes of a few rounds after the mix.
 */
class GroupNormMixAllocationTest {
  private static final int ROUNDS = 25, CALLS = 10;

  public static final class Probe {
    public static void main(String[] args) {
      ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
      GroupShape[] shapes = {GroupShape.nhwc(8, 3136, 64, 32), GroupShape.nhwc(4, 50, 100, 10), GroupShape.nhwc(32, 196, 256, 32),
          GroupShape.nhwc(32, 49, 2048, 32)};
      int k = shapes.length;
      float[][] x = new float[k][], y = new float[k][], dy = new float[k][], dx = new float[k][], gamma = new float[k][];
      float[][] beta = new float[k][], dGamma = new float[k][], dBeta = new float[k][], mean = new float[k][], invStd = new float[k][];
      for (int i = 0; i < k; i++) {
        GroupShape s = shapes[i];
        int n = s.batch() * s.channels() * s.spatial(), c = s.channels();
        x[i] = new float[n];
        dy[i] = new float[n];
        for (int j = 0; j < n; j++) {
          x[i][j] = (j * 37 % 101) * 0.04f - 1;
          dy[i][j] = (j * 53 % 97) * 0.02f - 1;
        }
        y[i] = new float[n];
        dx[i] = new float[n];
        gamma[i] = new float[c];
        java.util.Arrays.fill(gamma[i], 1.5f);
        beta[i] = new float[c];
        dGamma[i] = new float[c];
        dBeta[i] = new float[c];
        mean[i] = new float[s.statistics()];
        invStd[i] = new float[s.statistics()];
      }
      for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < k; i++) {
          for (int c = 0; c < CALLS; c++) GroupNorm.forward(shapes[i], x[i], 0, gamma[i], beta[i], 1e-3f, y[i], 0, mean[i], invStd[i]);
          for (int c = 0; c < CALLS; c++) {
            GroupNorm.forward(shapes[i], x[i], 0, gamma[i], beta[i], 1e-3f, y[i], 0, mean[i], invStd[i]);
            GroupNorm.backward(shapes[i], x[i], 0, dy[i], 0, gamma[i], mean[i], invStd[i], dx[i], 0, dGamma[i], dBeta[i]);
          }
        }
      }
      int t = 2; // NHWC 32x196x256, 32 groups
      long best = Long.MAX_VALUE;
      for (int round = 0; round < 5; round++) {
        long b0 = threads.getCurrentThreadAllocatedBytes();
        for (int c = 0; c < CALLS; c++) GroupNorm.forward(shapes[t], x[t], 0, gamma[t], beta[t], 1e-3f, y[t], 0, mean[t], invStd[t]);
        best = Math.min(best, threads.getCurrentThreadAllocatedBytes() - b0);
      }
      System.out.println(best);
    }
  }

  @Test
  void channelsLastForwardAfterOtherShapesAllocatesNothing() throws Exception {
    String out = ChildJvm.run(Probe.class, 180, "--add-modules", "jdk.incubator.vector", "-Xmx1g").stdout();
    long best = Long.parseLong(out.substring(out.lastIndexOf('\n') + 1).trim());
    // A boxed vector a sample would be 30,720 B in 10 calls.
    assertTrue(best < 16L * CALLS, "GroupNorm NHWC 32x196x256 forward after the mix: fewest bytes in " + CALLS + " calls: " + best);
  }
}
