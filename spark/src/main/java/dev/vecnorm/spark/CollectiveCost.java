package dev.vecnorm.spark;

import dev.vecnorm.Moments;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Function1;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag$;

/**
 * What synchronized BN costs in communication for a 53-layer network: the BN layers of ResNet-50 (their
 * channel counts below), each taking one all-gather of its moments forward and one of its backward sums,
 * so 106 ring rounds a step, timed in a barrier stage. Beside it: Spark's own {@code allGather} and
 * {@code barrier()} per round, and one gradient all-reduce of ResNet-50's 25,557,032 parameters.
 *
 * <pre>
 * java ... dev.vecnorm.spark.CollectiveCost [--master URL] [--replicas 2] [--steps 200] [--spark-rounds 3]
 * </pre>
 */
public final class CollectiveCost {
  private CollectiveCost() {}

  /** ResNet-50's 53 BatchNormalization layers, by channel count, in forward order (torchvision's resnet50). */
  static final int[] RESNET50_BN_CHANNELS = resnet50();

  private static int[] resnet50() {
    List<Integer> c = new ArrayList<>(List.of(64));
    int[] blocks = {3, 4, 6, 3}, widths = {64, 128, 256, 512};
    for (int stage = 0; stage < 4; stage++) {
      for (int b = 0; b < blocks[stage]; b++) {
        c.addAll(List.of(widths[stage], widths[stage], 4 * widths[stage]));
        if (b == 0) c.add(4 * widths[stage]); // the projection shortcut's BN
      }
    }
    return c.stream().mapToInt(Integer::intValue).toArray();
  }

  /** ResNet-50's trainable parameter count (torchvision). */
  static final int RESNET50_PARAMETERS = 25_557_032;

  record Timings(double[] stepMillis, double gradientMillis, double[] sparkAllGatherMillis, double[] sparkBarrierMillis) implements Serializable {}

  /**
   * Runs the measurement and prints medians.
   *
   * @param args {@code --master URL}, {@code --replicas R}, {@code --steps N}, {@code --spark-rounds K}
   */
  public static void main(String[] args) {
    String master = null;
    int replicas = 2, steps = 200, sparkRounds = 3;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--master" -> master = args[++i];
        case "--replicas" -> replicas = Integer.parseInt(args[++i]);
        case "--steps" -> steps = Integer.parseInt(args[++i]);
        case "--spark-rounds" -> sparkRounds = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    if (RESNET50_BN_CHANNELS.length != 53) throw new AssertionError("ResNet-50 has 53 BN layers, got " + RESNET50_BN_CHANNELS.length);
    SparkConf conf = new SparkConf().setAppName("vecnorm collective cost");
    if (master != null) conf.setMaster(master);
    int n = steps, k = sparkRounds;
    try (JavaSparkContext sc = new JavaSparkContext(conf)) {
      sc.setLogLevel("WARN");
      List<Integer> parts = new ArrayList<>();
      for (int r = 0; r < replicas; r++) parts.add(r);
      Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<Timings>> body =
          (Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<Timings>> & Serializable) it -> {
            Timings t = measure(BarrierTaskContext.get(), n, k);
            return CollectionConverters.asScala(List.of(t).iterator());
          };
      Timings[] all = (Timings[]) sc.parallelize(parts, replicas).rdd().barrier().mapPartitions(body, false, ClassTag$.MODULE$.apply(Timings.class)).collect();
      Timings t = all[0];
      int rounds = 2 * RESNET50_BN_CHANNELS.length;
      double step = median(t.stepMillis());
      System.out.printf(Locale.ROOT, "%d replicas, rank 0, median of %d steps after %d warm-up steps%n", replicas, steps, steps / 2);
      System.out.printf(Locale.ROOT, "ring, synchronized BN of ResNet-50 (53 layers, %d rounds a step): %.2f ms a step, %.3f ms a round (p10 %.2f, p90 %.2f ms a step)%n",
          rounds, step, step / rounds, percentile(t.stepMillis(), 0.1), percentile(t.stepMillis(), 0.9));
      System.out.printf(Locale.ROOT, "ring, gradient all-reduce of %,d floats (ResNet-50's parameters): %.1f ms%n", RESNET50_PARAMETERS, t.gradientMillis());
      System.out.printf(Locale.ROOT, "Spark's BarrierTaskContext.allGather: %s ms a round; barrier(): %s ms a round%n",
          Arrays.toString(round(t.sparkAllGatherMillis())), Arrays.toString(round(t.sparkBarrierMillis())));
      System.out.printf(Locale.ROOT, "at Spark's allGather rate, %d rounds would take %.0f s a step%n", rounds, median(t.sparkAllGatherMillis()) * rounds / 1e3);
    }
  }

  private static Timings measure(BarrierTaskContext context, int steps, int sparkRounds) {
    double[] sparkGather = new double[sparkRounds], sparkBarrier = new double[sparkRounds];
    for (int i = 0; i < sparkRounds; i++) {
      long t0 = System.nanoTime();
      context.allGather("x");
      sparkGather[i] = (System.nanoTime() - t0) / 1e6;
      t0 = System.nanoTime();
      context.barrier();
      sparkBarrier[i] = (System.nanoTime() - t0) / 1e6;
    }
    try (RingCollective ring = RingCollective.join(context, Duration.ofSeconds(60))) {
      RingStatisticsReducer reducer = new RingStatisticsReducer(ring);
      int layers = RESNET50_BN_CHANNELS.length;
      Moments[] local = new Moments[layers];
      float[][] sumDy = new float[layers][], sumDyXhat = new float[layers][];
      for (int l = 0; l < layers; l++) {
        int c = RESNET50_BN_CHANNELS[l];
        double[] mean = new double[c], m2 = new double[c];
        Arrays.fill(mean, ring.rank());
        Arrays.fill(m2, 1);
        local[l] = Moments.of(32 * 56 * 56, mean, m2);
        sumDy[l] = new float[c];
        sumDyXhat[l] = new float[c];
      }
      double[] stepMillis = new double[steps];
      for (int s = -steps / 2; s < steps; s++) { // the first half-run warms up the JIT and the sockets
        long t0 = System.nanoTime();
        for (int l = 0; l < layers; l++) reducer.allGatherMoments(local[l]); // forward, layer by layer
        for (int l = layers - 1; l >= 0; l--) reducer.allReduceSum(sumDy[l], sumDyXhat[l]); // backward, in reverse
        if (s >= 0) stepMillis[s] = (System.nanoTime() - t0) / 1e6;
      }
      float[] gradients = new float[RESNET50_PARAMETERS];
      ring.allReduceSum(gradients); // warm-up
      long t0 = System.nanoTime();
      ring.allReduceSum(gradients);
      double gradientMillis = (System.nanoTime() - t0) / 1e6;
      return new Timings(stepMillis, gradientMillis, sparkGather, sparkBarrier);
    }
  }

  private static double median(double[] v) {
    return percentile(v, 0.5);
  }

  private static double percentile(double[] v, double p) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s[(int) Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
  }

  private static double[] round(double[] v) {
    double[] r = new double[v.length];
    for (int i = 0; i < v.length; i++) r[i] = Math.round(v[i]);
    return r;
  }
}
