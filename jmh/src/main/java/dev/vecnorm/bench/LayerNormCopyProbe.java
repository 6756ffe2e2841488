package dev.vecnorm.bench;

import dev.vecnorm.LayerNorm;
import java.util.Arrays;
import java.util.Locale;

/**
 * Stopwatch of the layer-norm forward against a vector copy of the same bytes, in alternating blocks in
 * one JVM: per block, 5 warm and 15 timed calls of {@link LayerNorm#forward} (training: y, mean and invStd;
 * the peers harness's data and epsilon, {@link Workload}) and then the same of {@link BandwidthOps#copy}
 * (1 read + 1 write, the forward's compulsory traffic). Each block prints both medians and their ratio; the
 * summary is the median, lowest and highest ratio over the blocks.
 *
 * <p>Why alternating blocks: on this shared 2-core machine a forward's time moved by up to 1.7x from one
 * JVM (or minute) to the next while a copy in the same JVM moved far less, so a forward and a copy timed
 * in separate runs (JMH's {@code Vector} and {@code Bandwidth} rows) can disagree by more than the effect
 * looked for. Blocks of each next to each other see the same machine. Arguments: peers-style labels
 * ({@code NC:ROWSxFEATURES}) and optionally {@code --blocks N} (default 12); run it under the
 * measurement lock:
 * <pre>flock /tmp/vecnorm-measure.lock java --add-modules jdk.incubator.vector -Xms2g -Xmx2g -XX:+AlwaysPreTouch \
 *     -cp jmh/target/benchmarks.jar dev.vecnorm.bench.LayerNormCopyProbe NC:4096x256 NC:2048x768 NC:1024x1000</pre>
 */
public final class LayerNormCopyProbe {
  private LayerNormCopyProbe() {}

  /** Median µs of 15 calls after 5 warm ones. */
  static double block(Runnable call) {
    long[] t = new long[15];
    for (int i = -5; i < t.length; i++) {
      long s = System.nanoTime();
      call.run();
      long e = System.nanoTime();
      if (i >= 0) t[i] = e - s;
    }
    Arrays.sort(t);
    return t[t.length / 2] / 1e3;
  }

  public static void main(String[] args) {
    int blocks = 12;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--blocks")) blocks = Integer.parseInt(args[++i]);
    }
    for (String label : args) {
      if (!label.startsWith("NC:")) continue;
      Workload w = new Workload(label);
      int rows = w.shape.outer(), features = w.shape.channels();
      float[] x = w.x, y = w.y, gamma = w.gamma, beta = w.beta, mean = new float[rows], invStd = new float[rows];
      Runnable forward = () -> LayerNorm.forward(rows, features, x, 0, gamma, beta, Workload.EPSILON, y, 0, mean, invStd);
      Runnable copy = () -> BandwidthOps.copy(x, y, 0.5f);
      for (int k = 0; k < 3; k++) { // JIT warm-up, not reported
        block(forward);
        block(copy);
      }
      double[] ratios = new double[blocks];
      for (int k = 0; k < blocks; k++) {
        double f = block(forward), c = block(copy);
        ratios[k] = f / c;
        System.out.printf(Locale.ROOT, "%s block %2d: layerNorm.forward %7.1f us, copy %7.1f us, ratio %.3f%n", label, k, f, c, ratios[k]);
      }
      Arrays.sort(ratios);
      System.out.printf(Locale.ROOT, "%s: forward / copy median %.3f (lowest %.3f, highest %.3f) over %d blocks%n", label,
          ratios[blocks / 2], ratios[0], ratios[blocks - 1], blocks);
    }
  }
}
