package dev.vecnorm.bench;

import com.sun.management.ThreadMXBean;
import dev.vecnorm.GroupNorm;
import dev.vecnorm.GroupShape;
import dev.vecnorm.bench.PeersReport.Case;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The vecnorm side of {@code jmh/bench peers OUT --norms --threads 1} in one JVM, without the oneDNN and PyTorch
 * workers: the peers driver's warm-up, then every shape's cases in its order (layer norm and RMS norm on the NC
 * shapes first, then group norm on the 4-D ones), one round. After each group-norm shape it also counts the bytes
 * GroupNorm.forward and backward allocate per call on the calling thread (ThreadMXBean, {@code CALLS} calls). Written to
 * reproduce the hazard that got gn13's backward reverted (c92f375): GroupNorm's NCHW forward 2-2.7x slower, and
 * vector boxing in {@code PanamaBatchNormSupport.normalizeChannelsFirst}, only in a JVM that had run the other
 * norms first. Arguments: threads (1, or 1,2), measure ms (150), shapes (default, or empty: the peers' norms list),
 * rounds (1; the peers run 3 and keep each case's best).
 * Run as {@code java --add-modules jdk.incubator.vector -Xms2g -Xmx2g -XX:+AlwaysPreTouch -cp
 * jmh/target/benchmarks.jar dev.vecnorm.bench.GroupNormHazard}. Prints one line per case, then
 * {@code alloc SHAPE forward B/call backward B/call} lines and a last line {@code worst-forward-alloc B/call}.
 */
public final class GroupNormHazard {
  private static final int CALLS = 200;

  public static void main(String[] a) {
    String[] ts = (a.length > 0 ? a[0] : "1").split(",");
    int[] threads = new int[ts.length];
    for (int i = 0; i < ts.length; i++) threads[i] = Integer.parseInt(ts[i]);
    double measure = a.length > 1 ? Double.parseDouble(a[1]) : 150;
    List<String> shapes = a.length > 2 && !a[2].isEmpty() ? List.of(a[2].split(",")) : NormsSide.SHAPES;
    int rounds = a.length > 3 ? Integer.parseInt(a[3]) : 1;
    ThreadMXBean mx = (ThreadMXBean) ManagementFactory.getThreadMXBean();
    long worst = 0;
    List<String> allocLines = new ArrayList<>();
    try (VecnormSide v = new VecnormSide()) {
      // Peers.warmUp with --norms
      for (String s : List.of("NC:256x1024", "NC:64x17", "NHWC:32x14x14x256", "NCHW:32x14x14x256", "NHWC:7x13x13x17")) {
        v.shape(s);
        for (Case c : NormsSide.cases(s, threads)) v.run(c, 60, 0);
      }
      for (String s : shapes) {
        v.shape(s);
        for (int round = 1; round <= rounds; round++) {
          for (Case c : NormsSide.cases(s, threads)) {
            PeersReport.Reply r = v.run(c, 60, measure);
            System.out.printf(Locale.ROOT, "%s %s %dT %.1f us round %d%n", s, c.op(), c.threads(), r.ns() / 1e3, round);
          }
        }
        if (!s.startsWith("NC:")) {
          long b = bytesPerCall(mx, s, false), bb = bytesPerCall(mx, s, true);
          worst = Math.max(worst, b);
          allocLines.add(String.format(Locale.ROOT, "alloc %s forward %d B/call backward %d B/call", s, b, bb));
        }
      }
    }
    for (String l : allocLines) System.out.println(l);
    System.out.println("worst-forward-alloc " + worst + " B/call");
    System.exit(0);
  }

  /** Fewest bytes per GroupNorm.forward (or backward) call (facade) over three rounds of up to {@link #CALLS} calls on the shape. */
  static long bytesPerCall(ThreadMXBean mx, String label, boolean backward) {
    Workload w = new Workload(label);
    GroupShape g = NormsSide.groupShape(label);
    for (int i = 0; i < w.x.length; i++) w.x[i] = VecnormSide.hashUnit(i) * 4 - 1;
    for (int i = 0; i < w.dy.length; i++) w.dy[i] = VecnormSide.hashUnit(i ^ 0x5BD1E995) * 2 - 1;
    java.util.Arrays.fill(w.gamma, 1f);
    float[] mean = new float[g.statistics()], invStd = new float[g.statistics()];
    int calls = (int) Math.max(3, Math.min(CALLS, 2_000_000L / w.x.length));
    GroupNorm.forward(g, w.x, 0, w.gamma, w.beta, VecnormSide.EPSILON, w.y, 0, mean, invStd); // the backward's statistics
    long best = Long.MAX_VALUE;
    for (int round = 0; round < 3; round++) {
      long t0 = mx.getCurrentThreadAllocatedBytes();
      if (backward) {
        for (int i = 0; i < calls; i++) GroupNorm.backward(g, w.x, 0, w.dy, 0, w.gamma, mean, invStd, w.dx, 0, w.dGamma, w.dBeta);
      } else {
        for (int i = 0; i < calls; i++) GroupNorm.forward(g, w.x, 0, w.gamma, w.beta, VecnormSide.EPSILON, w.y, 0, mean, invStd);
      }
      best = Math.min(best, (mx.getCurrentThreadAllocatedBytes() - t0) / calls);
    }
    return best;
  }
}
