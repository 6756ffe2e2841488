package dev.vecnorm.bench;

import dev.vecnorm.GroupNorm;
import dev.vecnorm.GroupShape;
import dev.vecnorm.ParallelNorms;
import java.util.Arrays;
/**
 * Stopwatch of channels-last GroupNorm on 1 and 2 threads: the facade, {@code ParallelNorms(1)} and
 * {@code ParallelNorms(2)}, medians of 7 loops, three repetitions (README, ParallelNorms). Row ranges
 * split a batch of one (1x64x64x320); a batch of two keeps whole samples (2x56x56x64).
 */
public final class GroupNormThreads {
  interface Op { void run(); }
  static double time(Op op, int reps) {
    long[] t = new long[7];
    for (int k = 0; k < 7; k++) {
      long s = System.nanoTime();
      for (int i = 0; i < reps; i++) op.run();
      t[k] = System.nanoTime() - s;
    }
    Arrays.sort(t);
    return t[3] / 1e3 / reps;
  }
  public static void main(String[] a) {
    GroupShape[] shapes = {GroupShape.nhwc(2, 3136, 64, 32), GroupShape.nhwc(1, 4096, 320, 32)};
    try (ParallelNorms p1 = new ParallelNorms(1); ParallelNorms p2 = new ParallelNorms(2)) {
      for (GroupShape s : shapes) {
        int n = (int) s.size();
        float[] x = new float[n], y = new float[n], dy = new float[n], dx = new float[n], g = new float[s.channels()], b = new float[s.channels()];
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < n; i++) { x[i] = (float) r.nextGaussian(); dy[i] = (float) r.nextGaussian(); }
        Arrays.fill(g, 1f);
        float[] m = new float[s.statistics()], v = new float[s.statistics()], dg = new float[s.channels()], db = new float[s.channels()];
        int reps = s.size() > 1_000_000 ? 100 : 300;
        for (int w = 0; w < 3; w++) {
          double f0 = time(() -> GroupNorm.forward(s, x, 0, g, b, 1e-3f, y, 0, m, v), reps);
          double f1 = time(() -> p1.groupNormForward(s, x, 0, g, b, 1e-3f, y, 0, m, v), reps);
          double f2 = time(() -> p2.groupNormForward(s, x, 0, g, b, 1e-3f, y, 0, m, v), reps);
          double b0 = time(() -> GroupNorm.backward(s, x, 0, dy, 0, g, m, v, dx, 0, dg, db), reps);
          double b1 = time(() -> p1.groupNormBackward(s, x, 0, dy, 0, g, m, v, dx, 0, dg, db), reps);
          double b2 = time(() -> p2.groupNormBackward(s, x, 0, dy, 0, g, m, v, dx, 0, dg, db), reps);
          System.out.printf("%s fwd facade %.1f p1 %.1f p2 %.1f | bwd facade %.1f p1 %.1f p2 %.1f%n", s, f0, f1, f2, b0, b1, b2);
        }
      }
    }
  }
}
