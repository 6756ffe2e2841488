package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.ThreadMXBean;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * The backward on native segments allocates nothing once compiled, also where the channels-last super rows
 * end in a ragged tail longer than a vector (NHWC 7x13x13x17, 3x5x5x33 at 16 lanes; NHWC 3x5x5x33 at 8). That
 * tail's last vectors used to start as {@code null}: C2 boxes a vector merged with null, 160 B a call, every
 * call. Runs in a fresh JVM ({@link ChildJvm}), so that what it measures is this code, not which shapes other
 * tests compiled it with first; cannot pass while every call allocates.
 */
class NativeBackwardAllocationTest {
  private static final int CALLS = 2000, ROUNDS = 30;
  private static final NormShape[] SHAPES = {NormShape.channelsLast(7 * 13 * 13, 17), NormShape.channelsLast(3 * 5 * 5, 33),
      NormShape.channelsFirst(7, 17, 13 * 13), NormShape.channelsFirst(8, 3, 5 * 5)};

  /** The child JVM: per shape, the fewest bytes the calling thread allocated in a round of {@code CALLS} calls. */
  public static final class Probe {
    public static void main(String[] args) {
      StringBuilder out = new StringBuilder();
      for (NormShape s : SHAPES) out.append(bestRound(s)).append(' ');
      System.out.println(out.toString().trim());
    }
  }

  @Test
  void steadyStateNativeBackwardAllocatesNothing() throws Exception {
    String out = ChildJvm.run(Probe.class, 120, "--add-modules", "jdk.incubator.vector").stdout();
    String[] best = out.substring(out.lastIndexOf('\n') + 1).trim().split(" ");
    for (int k = 0; k < SHAPES.length; k++) {
      assertTrue(Long.parseLong(best[k]) < CALLS,
          SHAPES[k] + ": fewest bytes allocated in a round of " + CALLS + " native backward calls: " + best[k]);
    }
  }

  private static long bestRound(NormShape s) {
    ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
    int n = Math.toIntExact(s.size()), c = s.channels();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment x = arena.allocate(4L * n, 64), dy = arena.allocate(4L * n, 64), dx = arena.allocate(4L * n, 64);
      for (int i = 0; i < n; i++) {
        x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i * 37 % 101) * 0.01f);
        dy.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i * 53 % 97) * 0.01f - 0.5f);
      }
      float[] gamma = new float[c], mean = new float[c], invStd = new float[c], dGamma = new float[c], dBeta = new float[c];
      java.util.Arrays.fill(gamma, 1.5f);
      java.util.Arrays.fill(mean, 0.5f);
      java.util.Arrays.fill(invStd, 2f);
      long best = Long.MAX_VALUE;
      for (int round = 0; round < ROUNDS && best > 0; round++) {
        long before = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < CALLS; i++) BatchNorm.backward(s, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
        best = Math.min(best, threads.getCurrentThreadAllocatedBytes() - before);
      }
      return best;
    }
  }
}
