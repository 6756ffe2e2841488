package dev.vecnorm.bench;

import dev.vecnorm.GroupNorm;
import dev.vecnorm.GroupShape;
import dev.vecnorm.LayerNorm;
import dev.vecnorm.ParallelNorms;
import dev.vecnorm.RmsNorm;
import dev.vecnorm.bench.PeersReport.Case;
import dev.vecnorm.bench.PeersReport.Reply;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntBinaryOperator;

/**
 * The vecnorm side of {@code Peers --norms}: {@link LayerNorm} and {@link RmsNorm} over the rows of an
 * NC tensor ({@code rows x features}), {@link GroupNorm} on the suite's NHWC and NCHW tensors, on the
 * tensors, data, timing and checksums of {@link VecnormSide} (whose {@link Workload} it borrows).
 * Operations are {@code FAMILY.OP}; the checksums are batch norm's with per-row or per-group
 * statistics: training forward {@code Σ|y| + Σmean}, inference forward and RMS forward {@code Σ|y|},
 * backward {@code Σ|dx| + ΣdGamma + ΣdBeta}. One thread is the single-threaded facades, more is
 * {@link ParallelNorms} (one instance per thread count, kept for the run), as a user would call them.
 *
 * <p>With {@code Peers --ln-native}, each NC shape also gets layer norm's two forwards on native segments
 * allocated 64-byte aligned ({@link #NATIVE}: vecnorm's {@code MemorySegment} entry point on a copy of the
 * same data), beside the {@code float[]} rows, with the peers timed again on their own (page-aligned)
 * buffers: a large {@code float[]}'s data starts 16 bytes past a 64-byte line, a native tensor library's
 * does not, and these rows show what that costs on the same table.
 */
final class NormsSide {
  private static final float EPSILON = VecnormSide.EPSILON;

  /** Transformer shapes ({@code tokens x features}) and one awkward width (a one-vector tail and 8 scalar floats at 16 lanes). */
  static final List<String> LAYER_SHAPES = List.of("NC:2048x768", "NC:512x4096", "NC:1024x1000");
  /** Then group norm on the 4-D shapes of {@link Peers#SUITE}. */
  static final List<String> SHAPES = Peers.concat(LAYER_SHAPES, Peers.SUITE.stream().filter(s -> !s.startsWith("NC:")).toList());
  static final List<String> QUICK = List.of("NC:2048x768", "NC:512x4096", "NHWC:32x14x14x256", "NCHW:32x14x14x256");

  /** Suffix of a vecnorm-only variant of an operation: the same call on 64-byte-aligned native segments. */
  static final String NATIVE = "@native";
  /** Set by {@code Peers --ln-native}: add the {@link #NATIVE} layer-norm forward rows. */
  static boolean nativeRows;

  /** Little-endian float32, unaligned: the layout of every native tensor of the peers run and the probes. */
  static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private float[] statMean = new float[0], statInvStd = new float[0];
  /** Native copies of the workload's x and a native y, made once per workload (released with it). */
  private Workload nativeFor;
  private MemorySegment nativeX, nativeY;
  /** Per thread count above 1; daemon workers, left to the worker JVM's exit. */
  private final Map<Integer, ParallelNorms> pools = new HashMap<>();

  /**
   * The cases of one shape: on NC, layer norm (training and inference forward, backward) and RMS norm
   * (forward, backward) over rows; on NHWC and NCHW, group norm (forward, backward: training and inference
   * are the same computation) with {@link #groups} groups.
   */
  static List<Case> cases(String shape, int[] threads) {
    List<String> ops = shape.startsWith("NC:")
        ? List.of("layerNorm.trainingForward", "layerNorm.inferenceForward", "layerNorm.backward", "rmsNorm.forward", "rmsNorm.backward")
        : List.of("groupNorm" + groups(shape) + ".trainingForward", "groupNorm" + groups(shape) + ".backward");
    // The aligned native rows call the single-threaded facade: a 1-thread case only, after the float[] op's cases.
    boolean oneThread = Arrays.stream(threads).anyMatch(t -> t == 1);
    List<Case> cases = new ArrayList<>();
    for (String op : ops) {
      for (int t : threads) cases.add(new Case(shape, op, false, t));
      if (nativeRows && oneThread && op.startsWith("layerNorm.") && op.endsWith("Forward")) cases.add(new Case(shape, op + NATIVE, false, 1));
    }
    return cases;
  }

  /**
   * This shape's family kernels compiled before its first timed call, as {@code Peers} does for batch norm: layer and RMS
   * norm on an NC shape's rows, group norm on a 4-D one (float[] only; the aligned native rows warm in their own cases).
   */
  static void warmUp(String shape) {
    java.time.Duration budget = java.time.Duration.ofSeconds(2);
    if (shape.startsWith("NC:")) {
      dev.vecnorm.NormShape s = Workload.parse(shape);
      int rows = Math.toIntExact((long) s.outer() * s.inner());
      dev.vecnorm.LayerNorm.warmUp(rows, s.channels(), null, budget);
      dev.vecnorm.RmsNorm.warmUp(rows, s.channels(), null, budget);
    } else {
      dev.vecnorm.GroupNorm.warmUp(groupShape(shape), null, budget);
    }
  }

  /** Keras' default of 32 groups where it divides the channels, else one group per channel (InstanceNorm). */
  static int groups(String shape) {
    int channels = dims(shape)[3];
    return channels % 32 == 0 ? 32 : channels;
  }

  /** A 4-D label's {@code N, H, W, C} (the order of both NHWC and NCHW labels, as {@link Workload#parse}). */
  private static int[] dims(String shape) {
    String[] p = shape.substring(shape.indexOf(':') + 1).split("x");
    if (p.length != 4) throw new IllegalArgumentException("group norm needs an NHWC or NCHW shape, got " + shape);
    return new int[] {Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]), Integer.parseInt(p[3])};
  }

  static GroupShape groupShape(String shape) {
    int[] d = dims(shape);
    return shape.startsWith("NHWC:") ? GroupShape.nhwc(d[0], d[1] * d[2], d[3], groups(shape))
        : GroupShape.nchw(d[0], d[3], d[1] * d[2], groups(shape));
  }

  Reply run(Workload w, Case c, double warmMs, double measureMs) {
    if (c.inPlace()) return Reply.error("the --norms cases run out of place only");
    int rows = w.shape.outer() * w.shape.inner(), features = w.shape.channels();
    GroupShape g = c.family().startsWith("groupNorm") ? groupShape(c.shape()) : null;
    int statistics = g == null ? rows : g.statistics();
    if (statMean.length != statistics) { // per-row or per-group statistics, sized once per shape
      statMean = new float[statistics];
      statInvStd = new float[statistics];
    }
    float[] x = w.x, y = w.y, dy = w.dy, dx = w.dx, gamma = w.gamma, beta = w.beta, dGamma = w.dGamma, dBeta = w.dBeta;
    float[] mean = statMean, invStd = statInvStd;
    if (c.op().endsWith(NATIVE)) {
      if (c.threads() != 1) return Reply.error("the native layer-norm rows run on 1 thread only");
      if (nativeFor != w) { // the segments follow the workload: a new shape gets new ones
        nativeFor = w;
        Arena arena = Arena.ofAuto(); // freed once this side drops them
        nativeX = arena.allocate(4L * x.length, 64);
        nativeY = arena.allocate(4L * x.length, 64);
        MemorySegment.copy(x, 0, nativeX, FLOAT, 0, x.length);
      }
    }
    MemorySegment nx = nativeX, ny = nativeY;
    Runnable call;
    String detail;
    // One thread: the single-threaded facades; more: ParallelNorms, on the same arguments.
    ParallelNorms p = c.threads() == 1 ? null : pools.computeIfAbsent(c.threads(), ParallelNorms::new);
    String via = p == null ? "" : "ParallelNorms(" + c.threads() + ") ";
    switch (g == null ? c.op() : "groupNorm" + c.op().substring(c.family().length())) {
      case "layerNorm.trainingForward" -> {
        call = p == null ? () -> LayerNorm.forward(rows, features, x, 0, gamma, beta, EPSILON, y, 0, mean, invStd)
            : () -> p.layerNormForward(rows, features, x, 0, gamma, beta, EPSILON, y, 0, mean, invStd);
        detail = via + "LayerNorm.forward";
      }
      case "layerNorm.inferenceForward" -> {
        call = p == null ? () -> LayerNorm.forward(rows, features, x, 0, gamma, beta, EPSILON, y, 0, null, null)
            : () -> p.layerNormForward(rows, features, x, 0, gamma, beta, EPSILON, y, 0, null, null);
        detail = via + "LayerNorm.forward, no statistics";
      }
      case "layerNorm.trainingForward" + NATIVE -> {
        call = () -> LayerNorm.forward(rows, features, nx, 0, gamma, beta, EPSILON, ny, 0, mean, invStd);
        detail = "LayerNorm.forward on 64-byte-aligned native segments";
      }
      case "layerNorm.inferenceForward" + NATIVE -> {
        call = () -> LayerNorm.forward(rows, features, nx, 0, gamma, beta, EPSILON, ny, 0, null, null);
        detail = "LayerNorm.forward on 64-byte-aligned native segments, no statistics";
      }
      case "layerNorm.backward" -> {
        // The statistics backward needs come from a real training forward, as in training.
        LayerNorm.forward(rows, features, x, 0, gamma, beta, EPSILON, y, 0, mean, invStd);
        call = p == null ? () -> LayerNorm.backward(rows, features, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta)
            : () -> p.layerNormBackward(rows, features, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
        detail = via + "LayerNorm.backward";
      }
      case "rmsNorm.forward" -> {
        call = p == null ? () -> RmsNorm.forward(rows, features, x, 0, gamma, EPSILON, y, 0, invStd)
            : () -> p.rmsNormForward(rows, features, x, 0, gamma, EPSILON, y, 0, invStd);
        detail = via + "RmsNorm.forward";
      }
      case "rmsNorm.backward" -> {
        RmsNorm.forward(rows, features, x, 0, gamma, EPSILON, y, 0, invStd);
        call = p == null ? () -> RmsNorm.backward(rows, features, x, 0, dy, 0, gamma, invStd, dx, 0, dGamma)
            : () -> p.rmsNormBackward(rows, features, x, 0, dy, 0, gamma, invStd, dx, 0, dGamma);
        detail = via + "RmsNorm.backward";
      }
      case "groupNorm.trainingForward" -> {
        call = p == null ? () -> GroupNorm.forward(g, x, 0, gamma, beta, EPSILON, y, 0, mean, invStd)
            : () -> p.groupNormForward(g, x, 0, gamma, beta, EPSILON, y, 0, mean, invStd);
        detail = via + "GroupNorm.forward";
      }
      case "groupNorm.backward" -> {
        GroupNorm.forward(g, x, 0, gamma, beta, EPSILON, y, 0, mean, invStd);
        call = p == null ? () -> GroupNorm.backward(g, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta)
            : () -> p.groupNormBackward(g, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
        detail = via + "GroupNorm.backward";
      }
      default -> {
        return Reply.error("unknown op " + c.op());
      }
    }
    call.run();
    if (c.op().endsWith(NATIVE)) MemorySegment.copy(ny, FLOAT, 0, y, 0, y.length); // the checksum reads y
    String op = c.peerOp().substring(c.family().length() + 1);
    double checksum = switch (op) { // after exactly one call on fresh data, as in the other workers
      case "trainingForward" -> VecnormSide.sumAbs(y) + VecnormSide.sum(mean);
      case "inferenceForward", "forward" -> VecnormSide.sumAbs(y);
      default -> VecnormSide.sumAbs(dx) + VecnormSide.sum(dGamma) + (c.family().equals("rmsNorm") ? 0 : VecnormSide.sum(dBeta));
    };
    return new Reply(true, false, VecnormSide.medianNs(call, warmMs, measureMs), checksum, detail);
  }

  /**
   * The checksums every side should return, by operation, computed in double from the same float inputs
   * and independent of the kernels: per row or group the two-pass mean and biased variance, then the
   * formulas of {@link LayerNorm}, {@link RmsNorm} and {@link GroupNorm} (also those of PyTorch's
   * {@code layer_norm}, {@code group_norm} and of the RMS expression).
   */
  static Map<String, Double> reference(Workload w, String shape) {
    Map<String, Double> m = new HashMap<>();
    if (!shape.startsWith("NC:")) {
      GroupShape g = groupShape(shape);
      int channels = g.channels(), spatial = g.spatial(), groups = g.groups(), perGroup = g.channelsPerGroup();
      // Element j of group k (= n * groups + group): its channel and its memory index in the layout.
      IntBinaryOperator channel = g.channelsLast() ? (k, j) -> k % groups * perGroup + j % perGroup : (k, j) -> k % groups * perGroup + j / spatial;
      IntBinaryOperator at = g.channelsLast()
          ? (k, j) -> (k / groups * spatial + j / perGroup) * channels + channel.applyAsInt(k, j)
          : (k, j) -> (k / groups * channels + channel.applyAsInt(k, j)) * spatial + j % spatial;
      double[] sums = normalized(w, g.statistics(), perGroup * spatial, at, channel);
      String family = "groupNorm" + groups;
      m.put(family + ".trainingForward", sums[0] + sums[1]);
      m.put(family + ".backward", sums[2]);
      return m;
    }
    int rows = w.shape.outer(), features = w.shape.channels();
    double[] sums = normalized(w, rows, features, (k, j) -> k * features + j, (k, j) -> j);
    m.put("layerNorm.trainingForward", sums[0] + sums[1]);
    m.put("layerNorm.inferenceForward", sums[1]);
    m.put("layerNorm.backward", sums[2]);
    double rmsForward = 0, rmsBackward = 0, eps = EPSILON;
    for (int r = 0, o = 0; r < rows; r++, o += features) {
      double squares = 0, sumGX = 0;
      for (int f = 0; f < features; f++) {
        squares += (double) w.x[o + f] * w.x[o + f];
        sumGX += (double) w.dy[o + f] * w.gamma[f] * w.x[o + f];
      }
      double invRms = 1 / Math.sqrt(squares / features + eps);
      for (int f = 0; f < features; f++) {
        double x = w.x[o + f], g = (double) w.dy[o + f] * w.gamma[f];
        rmsForward += Math.abs(x * invRms * w.gamma[f]);
        rmsBackward += Math.abs(invRms * g - x * invRms * invRms * invRms * sumGX / features) + w.dy[o + f] * x * invRms; // |dx| + dGamma
      }
    }
    m.put("rmsNorm.forward", rmsForward);
    m.put("rmsNorm.backward", rmsBackward);
    return m;
  }

  /**
   * Layer or group normalization in double over {@code sets} sets of {@code size} elements, element j of
   * set k at {@code at(k, j)} with parameter index {@code param(k, j)}: {Σmean, Σ|y|, Σ|dx| + ΣdGamma + ΣdBeta}.
   */
  private static double[] normalized(Workload w, int sets, int size, IntBinaryOperator at, IntBinaryOperator param) {
    double eps = EPSILON, means = 0, outputs = 0, backward = 0;
    for (int k = 0; k < sets; k++) {
      double sum = 0, var = 0;
      for (int j = 0; j < size; j++) sum += w.x[at.applyAsInt(k, j)];
      double mean = sum / size;
      for (int j = 0; j < size; j++) {
        double d = w.x[at.applyAsInt(k, j)] - mean;
        var += d * d;
      }
      double invStd = 1 / Math.sqrt(var / size + eps), sumG = 0, sumGXhat = 0;
      for (int j = 0; j < size; j++) {
        int i = at.applyAsInt(k, j), p = param.applyAsInt(k, j);
        double dy = w.dy[i], g = dy * w.gamma[p], xhat = (w.x[i] - mean) * invStd;
        outputs += Math.abs(w.gamma[p] * xhat + w.beta[p]);
        sumG += g;
        sumGXhat += g * xhat;
        backward += dy + dy * xhat; // Σ dBeta + Σ dGamma
      }
      for (int j = 0; j < size; j++) {
        int i = at.applyAsInt(k, j), p = param.applyAsInt(k, j);
        double g = (double) w.dy[i] * w.gamma[p], xhat = (w.x[i] - mean) * invStd;
        backward += Math.abs(invStd * (g - sumG / size - xhat * sumGXhat / size));
      }
      means += mean;
    }
    return new double[] {means, outputs, backward};
  }
}
