package dev.vecnorm.bench;

import dev.vecnorm.bench.PeersReport.Case;

/**
 * The vecnorm side of {@code jmh/bench peers --norms} alone, in a JVM of its own with the peers driver's heap flags and
 * no oneDNN or PyTorch worker: the same workload, data and timing loop ({@link VecnormSide#medianNs}), group norm
 * backward on 1 thread (the facade) and 2 ({@code ParallelNorms(2)}), a few rounds. Arguments: shape
 * (NCHW:32x7x7x2048), measure ms (150), rounds (5), warm-up shapes (NCHW:32x14x14x256, comma-separated). Run as
 * {@code java --add-modules jdk.incubator.vector -Xms2g -Xmx2g -XX:+AlwaysPreTouch -cp jmh/target/benchmarks.jar
 * dev.vecnorm.bench.GroupNormPeersProbe}. Written to tell the 2-thread case's time in the peers table from the
 * machine's state: on the shared machine, rounds in one JVM went from ~1.2 ms to ~2.4 ms when other work started.
 */
public final class GroupNormPeersProbe {
  public static void main(String[] a) {
    String shape = a.length > 0 ? a[0] : "NCHW:32x7x7x2048";
    double measure = a.length > 1 ? Double.parseDouble(a[1]) : 150;
    int rounds = a.length > 2 ? Integer.parseInt(a[2]) : 5;
    VecnormSide v = new VecnormSide();
    String warm = a.length > 3 ? a[3] : "NCHW:32x14x14x256";
    for (String ws : warm.split(",")) { // the harness's warm-up shape(s), or a full table's earlier shapes
      v.shape(ws);
      for (int t : new int[] {1, 2}) {
        PeersReport.Reply rep = v.run(new Case(ws, "groupNorm32.backward", false, t), 60, 150);
        System.out.printf("warm %s %dT %.1f us%n", ws, t, rep.ns() / 1e3);
      }
    }
    v.shape(shape);
    for (int r = 0; r < rounds; r++) {
      StringBuilder sb = new StringBuilder("round " + (r + 1) + ":");
      for (int t : new int[] {1, 2}) {
        PeersReport.Reply rep = v.run(new Case(shape, "groupNorm32.backward", false, t), 60, measure);
        sb.append(String.format(" %dT %.1f us", t, rep.ns() / 1e3));
      }
      System.out.println(sb);
    }
    System.exit(0);
  }
}
