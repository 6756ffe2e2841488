package dev.vecnorm.bench;

import java.util.Locale;
import java.util.function.BiFunction;

/**
 * Issue 9's kernel targets measured in one JVM, outside JMH. {@code Vector.statistics} and
 * {@code Bandwidth.statistics} run in different JMH forks, so each side gets its own physical pages and its
 * own share of the host's L3 and preemptions; on this shared VM that moved the NHWC:64x56x56x64 ratio
 * between 69% and 98% over five runs of an unchanged kernel. Here the library and the reference alternate
 * on the same tensor (order flipped each round), timed in thread CPU time, and the figure is the median of
 * the per-round ratios, as {@code SegmentCheck ratio} does for segments.
 * <ul>
 *   <li>{@code probe SHAPE OP...}: the library against the bandwidth probe ({@link BandwidthOps}) for each op:
 *       prints probe/library, the "% of probe" of the statistics target.</li>
 *   <li>{@code versus SHAPE OP REFERENCE_OP}: two library ops: prints OP/REFERENCE_OP, for example
 *       {@code versus NC:256x1024 trainingForward inferenceForward} (target at most 1.6).</li>
 * </ul>
 * Run: {@code java --add-modules jdk.incubator.vector -Xmx2g -cp jmh/target/benchmarks.jar
 * dev.vecnorm.bench.ProbeRatio probe NHWC:64x56x56x64 statistics}.
 */
public final class ProbeRatio {
  private ProbeRatio() {}

  private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();
  private static final int ROUNDS = Integer.getInteger("rounds", 31);

  public static void main(String[] args) {
    if (args.length >= 3 && args[0].equals("probe")) {
      System.out.println("| shape | operation | library µs | probe µs | probe/library (median of rounds) |");
      System.out.println("| --- | --- | ---: | ---: | ---: |");
      for (int i = 2; i < args.length; i++) {
        BiFunction<Ops, Workload, Object> op = SegmentCheck.op(args[i]);
        row(args[1], args[i], "probe", new LibraryOps(), op, new BandwidthOps(), op);
      }
    } else if (args.length == 4 && args[0].equals("versus")) {
      System.out.println("| shape | operation | µs | reference | reference µs | operation/reference (median of rounds) |");
      System.out.println("| --- | --- | ---: | --- | ---: | ---: |");
      row(args[1], args[2], args[3], new LibraryOps(), SegmentCheck.op(args[2]), new LibraryOps(), SegmentCheck.op(args[3]));
    } else {
      System.err.println("usage: ProbeRatio probe SHAPE OP... | versus SHAPE OP REFERENCE_OP   (-Drounds=31)");
      System.exit(2);
    }
  }

  /** Warms both sides for at least 2 s of CPU time until settled ({@link SegmentCheck#warmUp}), then {@link #ROUNDS} rounds of two ~10 ms batches, order flipped each round. */
  private static void row(String shape, String name, String reference, Ops a, BiFunction<Ops, Workload, Object> opA, Ops b,
                          BiFunction<Ops, Workload, Object> opB) {
    boolean probe = b instanceof BandwidthOps;
    Workload w = new Workload(shape);
    a.trainingForward(w); // statistics for inference and backward come from a real forward
    int batch = SegmentCheck.batch(SegmentCheck.warmUp(() -> opA.apply(a, w), () -> opB.apply(b, w), 2_000_000_000L), 20_000_000L);
    double[] ta = new double[ROUNDS], tb = new double[ROUNDS], r = new double[ROUNDS];
    for (int k = 0; k < ROUNDS; k++) {
      boolean aFirst = (k & 1) == 0;
      double t1 = aFirst ? time(a, opA, w, batch) : time(b, opB, w, batch);
      double t2 = aFirst ? time(b, opB, w, batch) : time(a, opA, w, batch);
      ta[k] = aFirst ? t1 : t2;
      tb[k] = aFirst ? t2 : t1;
      r[k] = probe ? tb[k] / ta[k] : ta[k] / tb[k];
    }
    if (probe) {
      System.out.printf(Locale.ROOT, "| %s | %s | %.1f | %.1f | %.1f%% (quartiles %.1f–%.1f%%) |%n", shape, name, Stats.median(ta),
          Stats.median(tb), 100 * Stats.median(r), 100 * Stats.quantile(r, 0.25), 100 * Stats.quantile(r, 0.75));
    } else {
      System.out.printf(Locale.ROOT, "| %s | %s | %.1f | %s | %.1f | %.3f (quartiles %.3f–%.3f) |%n", shape, name, Stats.median(ta),
          reference, Stats.median(tb), Stats.median(r),
          Stats.quantile(r, 0.25), Stats.quantile(r, 0.75));
    }
  }

  private static double time(Ops ops, BiFunction<Ops, Workload, Object> op, Workload w, int batch) {
    long t0 = now();
    for (int i = 0; i < batch; i++) op.apply(ops, w);
    return (now() - t0) / 1e3 / batch;
  }

  private static long now() {
    return CPU.getCurrentThreadCpuTime();
  }
}
