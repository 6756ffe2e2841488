package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.bench.PeersReport.Case;
import dev.vecnorm.bench.PeersReport.Reply;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vecnorm side of {@link Peers} alone, to find what earlier work slows the channels-last rows: the peers'
 * warm-up, then the {@code --prefix} shapes' cases in the peers' order (each shape warmed as Peers does), then the
 * {@code --targets} cases (out of place), timed as Peers times them ({@link VecnormSide#medianNs}), each followed in the
 * same JVM by a plain vector loop over the same arrays (one read and one write stream for a forward, a read of x and dy
 * then two reads and a write for a backward): the ratio kernel / plain loop takes out the memory system's speed, which
 * differs from JVM to JVM by up to 1.4x (4 KiB pages: TLB misses; see the sixteenth session in
 * docs/performance-history.md).
 * Prints the best round, the plain loop's best round, their ratio and the bytes allocated per timed case.
 *
 * <pre>java --add-modules jdk.incubator.vector -Xms2g -Xmx2g -XX:+AlwaysPreTouch -cp benchmarks.jar dev.vecnorm.bench.ChannelsLastHistory
 *       [--prefix S1,S2|all|none] [--targets S1,S2] [--ops inferenceForward,backward] [--threads 1,2] [--rounds 3]
 *       [--prefix-ms 20] [--no-peers-warm]</pre>
 */
public final class ChannelsLastHistory {
  private ChannelsLastHistory() {}

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

  /** The memory-bound floor of an inference forward: y = x * a + b, one read and one write stream. */
  static void plainForward(float[] x, float[] y, int n) {
    FloatVector a = FloatVector.broadcast(SPECIES, 1.01f), b = FloatVector.broadcast(SPECIES, 0.1f);
    int i = 0;
    for (; i < SPECIES.loopBound(n); i += SPECIES.length()) FloatVector.fromArray(SPECIES, x, i).fma(a, b).intoArray(y, i);
    for (; i < n; i++) y[i] = Math.fma(x[i], 1.01f, 0.1f);
  }

  /** The floor of a backward: a read of x and dy (the reduce), then dx = dy * a + x * b (the apply). */
  static float plainBackward(float[] x, float[] dy, float[] dx, int n) {
    FloatVector s0 = FloatVector.zero(SPECIES), s1 = FloatVector.zero(SPECIES);
    int i = 0, bound = SPECIES.loopBound(n);
    for (; i < bound; i += SPECIES.length()) {
      FloatVector g = FloatVector.fromArray(SPECIES, dy, i);
      s0 = s0.add(g);
      s1 = g.fma(FloatVector.fromArray(SPECIES, x, i), s1);
    }
    FloatVector a = FloatVector.broadcast(SPECIES, 0.9f), b = FloatVector.broadcast(SPECIES, 0.1f);
    for (i = 0; i < bound; i += SPECIES.length()) {
      FloatVector.fromArray(SPECIES, dy, i).fma(a, FloatVector.fromArray(SPECIES, x, i).mul(b)).intoArray(dx, i);
    }
    for (; i < n; i++) dx[i] = Math.fma(dy[i], 0.9f, x[i] * 0.1f);
    return s0.add(s1).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
  }

  public static void main(String[] args) {
    String prefix = "none", targets = "NHWC:64x56x56x64,NHWC:32x56x56x32", ops = "inferenceForward,backward", threads = "1,2";
    int rounds = 3;
    double prefixMs = 20;
    boolean peersWarm = true;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--prefix" -> prefix = args[++i];
        case "--targets" -> targets = args[++i];
        case "--ops" -> ops = args[++i];
        case "--threads" -> threads = args[++i];
        case "--rounds" -> rounds = Integer.parseInt(args[++i]);
        case "--prefix-ms" -> prefixMs = Double.parseDouble(args[++i]);
        case "--no-peers-warm" -> peersWarm = false;
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    int[] ts = java.util.Arrays.stream(threads.split(",")).mapToInt(Integer::parseInt).toArray();
    List<String> opList = List.of(ops.split(","));
    List<String> before = prefix.equals("none") ? List.of()
        : prefix.equals("all") ? Peers.concat(Peers.SUITE, Peers.OUTSIDE) : List.of(prefix.split(","));
    var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    try (VecnormSide side = new VecnormSide()) {
      if (peersWarm) {
        for (String shape : List.of("NC:256x1024", "NHWC:32x14x14x256", "NCHW:32x14x14x256", "NHWC:7x13x13x17")) {
          side.shape(shape);
          for (Case c : Peers.cases(shape, ts)) side.run(c, 60, 0);
        }
      }
      for (String shape : before) {
        side.shape(shape);
        BatchNorm.warmUp(Workload.parse(shape), null, Duration.ofSeconds(2));
        for (Case c : Peers.cases(shape, ts)) side.run(c, prefixMs, prefixMs);
      }
      for (String shape : targets.split(",")) {
        side.shape(shape);
        BatchNorm.warmUp(Workload.parse(shape), null, Duration.ofSeconds(2));
        List<Case> cases = new ArrayList<>();
        for (Case c : Peers.cases(shape, ts)) if (opList.contains(c.op()) && !c.inPlace()) cases.add(c);
        double[][] ns = new double[cases.size()][rounds];
        long[] alloc = new long[cases.size()];
        double[][] floor = new double[cases.size()][rounds];
        for (int r = 0; r < rounds; r++) {
          for (int k = 0; k < cases.size(); k++) {
            long a0 = mx.getCurrentThreadAllocatedBytes();
            Reply reply = side.run(cases.get(k), 60, 150);
            alloc[k] = mx.getCurrentThreadAllocatedBytes() - a0;
            ns[k][r] = reply.ns();
            Workload w = side.workload();
            int n = w.x.length;
            Runnable plain = cases.get(k).op().equals("backward") ? () -> plainBackward(w.x, w.dy, w.dx, n) : () -> plainForward(w.x, w.y, n);
            floor[k][r] = VecnormSide.medianNs(plain, 60, 150);
          }
        }
        for (int k = 0; k < cases.size(); k++) {
          double best = Double.MAX_VALUE, bestFloor = Double.MAX_VALUE;
          StringBuilder all = new StringBuilder();
          for (int r = 0; r < rounds; r++) {
            best = Math.min(best, ns[k][r]);
            bestFloor = Math.min(bestFloor, floor[k][r]);
            all.append(String.format(Locale.ROOT, " %.0f/%.0f", ns[k][r] / 1e3, floor[k][r] / 1e3));
          }
          Case c = cases.get(k);
          System.out.printf(Locale.ROOT, "%s %s %dT best %.0f us, plain loop %.0f us, ratio %.2f (rounds kernel/plain%s) alloc/run %d B%n", shape,
              c.op(), c.threads(), best / 1e3, bestFloor / 1e3, best / bestFloor, all, alloc[k]);
        }
      }
    }
  }
}
