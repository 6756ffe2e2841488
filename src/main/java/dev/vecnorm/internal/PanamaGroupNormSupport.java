package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Group norm on the Vector API, built from the batch-norm kernels applied to one sample at a time, so
 * both layouts get their tuned memory order and numerics without a second copy of those loops:
 * <ul>
 *   <li>Channels-first: a group is one contiguous block of {@code cpg * spatial} floats, so the sample
 *       is the batch-norm shape {@code [1, groups, cpg*spatial]} and its per-"channel" moments are the
 *       group moments (contiguous reduction by cache blocks, each two-pass, merged with Chan's formula).</li>
 *   <li>Channels-last: a group is a run of {@code cpg} floats in every row, too short to vectorize
 *       along when {@code cpg} is small. The sample is {@code [spatial, channels]}: per-channel moments
 *       vectorize along the rows (super rows for small or ragged C, shifted sums with a cancellation
 *       guard), then merge per group in double: {@code mean = avg(mean_c)},
 *       {@code var = avg(var_c) + avg((mean_c - mean)^2)} (equal counts per channel; each mean_c with the
 *       float rounding error the kernel reports, so data far from 0 keeps its variance). The forward
 *       with groups of two or more whole vectors takes its own memory-order route instead
 *       ({@link #forwardRows}).</li>
 * </ul>
 * The group statistics are then spread per channel ({@code mean_c = mean_g}, {@code invStd_c = invStd_g})
 * and the batch-norm normalize / backward-reduce kernels run unchanged on the sample. Only the input
 * gradient differs from batch norm: its group terms {@code b, k} do not scale with gamma, so it folds
 * {@code dx = a_c*dy + b_g*(x - mean_g) + k_g} itself and runs the channels-last apply on those
 * coefficients. The channels-first backward on planes of a vector or more does not use batch norm's
 * kernels: it runs one group at a time, reducing and applying in place of a per-plane lane sum
 * ({@link #backwardGroupsFirst}).
 *
 * <p>Scratch is pooled ({@link Scratch}); nothing allocates in steady state. Species only in static finals.
 */
final class PanamaGroupNormSupport implements GroupNormSupport {

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int LANES = SPECIES.length();
  /** {@link #reduceShort}'s fold: the upper half of the lanes, and the rotation by half a vector that swaps the halves. */
  static final VectorMask<Float> UPPER_HALF = SPECIES.indexInRange(0, LANES / 2).not();
  static final VectorShuffle<Float> SWAP_HALVES = VectorShuffle.iota(SPECIES, LANES / 2, 1, true);

  /** The batch-norm kernels, called through the final class so C2 binds them statically. */
  private final PanamaBatchNormSupport bn;

  PanamaGroupNormSupport() {
    bn = new PanamaBatchNormSupport(); // throws on the same platforms (no FMA, narrow vectors): the provider falls back
  }

  /**
   * Floats per scratch array: at least what the coefficients need ({@code [a | b | k | mean]} per channel
   * and tiled over a super row) and what any batch-norm kernel called here borrows for these channels
   * (6 floats per vector position of a super row at most), so every array in the pool fits every request
   * made during a call. The pool hands out the first array large enough and drops a smaller one when a
   * larger comes back: with per-channel requests of {@code channels} floats, the kernels' arrays were
   * taken or dropped and they allocated on every call.
   */
  static int scratchFloats(int channels) {
    int width = Math.max(PanamaBatchNormSupport.superWidth(channels), 0);
    return Math.max(4 * channels + 4 * width, 6 * (Math.max(width, channels) + LANES));
  }

  /**
   * One more array of {@code floats} borrowed and returned at once, so that, from the second call on, the
   * pool holds a free one for the batch-norm kernel running while this call holds its own.
   */
  static void spareForKernel(int floats) {
    Scratch.release(Scratch.borrow(floats));
  }

  @Override
  public String name() {
    return "panama";
  }

  /** Floats per group up to which channels-last groups of whole vectors take {@link #forwardRows}. */
  private static final int MAX_BLOCK_FLOATS = 1 << 13;

  /** Whether the forward takes {@link #forwardRows}: channels-last groups of two or more whole vectors, up to {@link #MAX_BLOCK_FLOATS}. */
  static boolean takesRows(boolean channelsLast, int cpg, int spatial) {
    return channelsLast && cpg % LANES == 0 && cpg >= 2 * LANES && (long) cpg * spatial <= MAX_BLOCK_FLOATS;
  }

  @Override
  public void forward(float[] x, int xOffset, float[] y, int yOffset, int batch, int channels, int spatial, int groups,
                      boolean channelsLast, float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset) {
    if (takesRows(channelsLast, channels / groups, spatial)) {
      forwardRows(x, xOffset, y, yOffset, batch, channels, spatial, groups, gamma, beta, epsilon, mean, invStd, statsOffset);
      return;
    }
    int floats = scratchFloats(channels);
    float[] chMean = Scratch.borrow(floats), chInvStd = Scratch.borrow(floats);
    float[] m = Scratch.borrow(floats), residual = Scratch.borrow(floats), v = Scratch.borrow(floats);
    spareForKernel(floats);
    try {
      // One method per layout, as batch norm does: both inlined into one compiled method exceed C2's
      // inlining node budget, and the vectors of the kernels inlined last get boxed.
      if (channelsLast) {
        forwardChannelsLast(x, xOffset, y, yOffset, batch, channels, spatial, groups, gamma, beta, epsilon, mean, invStd, statsOffset,
            chMean, chInvStd, m, residual, v);
      } else {
        forwardChannelsFirst(x, xOffset, y, yOffset, batch, channels, spatial, groups, gamma, beta, epsilon, mean, invStd, statsOffset,
            chMean, chInvStd, m, v);
      }
    } finally {
      Scratch.release(v);
      Scratch.release(residual);
      Scratch.release(m);
      Scratch.release(chInvStd);
      Scratch.release(chMean);
    }
  }

  private void forwardChannelsLast(float[] x, int xOffset, float[] y, int yOffset, int batch, int channels, int spatial, int groups,
                                   float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset,
                                   float[] chMean, float[] chInvStd, float[] m, float[] residual, float[] v) {
    int cpg = channels / groups, sampleFloats = channels * spatial;
    for (int n = 0; n < batch; n++) {
      int xs = xOffset + n * sampleFloats, ys = yOffset + n * sampleFloats;
      bn.moments(x, xs, spatial, channels, 1, m, residual, v);
      for (int g = 0; g < groups; g++) mergeChannels(m, residual, v, g * cpg, cpg, g);
      spread(m, v, groups, cpg, epsilon, mean, invStd, statsOffset + n * groups, chMean, chInvStd);
      // y = (x - mean_c) * gamma_c * invStd_c + beta_c: batch norm's kernel with group statistics per channel.
      bn.normalize(x, xs, y, ys, spatial, channels, 1, chMean, chInvStd, false, epsilon, gamma, beta);
    }
  }

  private void forwardChannelsFirst(float[] x, int xOffset, float[] y, int yOffset, int batch, int channels, int spatial, int groups,
                                    float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset,
                                    float[] chMean, float[] chInvStd, float[] m, float[] v) {
    int cpg = channels / groups, sampleFloats = channels * spatial;
    for (int n = 0; n < batch; n++) {
      int xs = xOffset + n * sampleFloats, ys = yOffset + n * sampleFloats;
      bn.moments(x, xs, 1, groups, cpg * spatial, m, v); // a group is one contiguous block: a batch-norm "channel"
      spread(m, v, groups, cpg, epsilon, mean, invStd, statsOffset + n * groups, chMean, chInvStd);
      bn.normalize(x, xs, y, ys, 1, channels, spatial, chMean, chInvStd, false, epsilon, gamma, beta);
    }
  }

  /**
   * Channels-last groups of at least two whole vectors per position (e.g. 2048 channels in 32 groups),
   * per sample in memory order: one read accumulating Σ(x - x0) and Σ(x - x0)² per group (x0 the
   * group's first element; a register pair per group run, added into the group's pair of vectors in
   * scratch), one lane sum each per group, layer norm's statistics steps ({@link #statistics}, with its
   * two-pass redo about the mean in scalar Java), then one pass writing y row by row (from L2) that also sums the
   * next sample ({@link #sampleSums}).
   * The per-channel route below (batch norm's moments over the sample's positions, a double merge per
   * group, per-channel coefficients) spends per-channel scalar work on every sample and moves
   * per-channel accumulators through L1 on every vector: 0.69x PyTorch at NHWC 32x7x7x2048, G = 32.
   * Walking each group's strided runs (as a layer-norm block) ran at 0.70x of a memory-order copy in a
   * probe; memory order streams. Groups of up to {@link #MAX_BLOCK_FLOATS} floats: each accumulator
   * lane then adds at most 512 pair sums at 8 lanes. At 65536 floats (1024 a lane), data
   * 1e4 + N(0, 0.01) with a group's first element 400 standard deviations out lost 2e-5 of the variance
   * (small squares rounded against the lane holding the outlier's), where the per-channel route's
   * blocked sums hold it.
   */
  private static void forwardRows(float[] x, int xOffset, float[] y, int yOffset, int batch, int channels, int spatial, int groups,
                                  float[] gamma, float[] beta, float epsilon, float[] mean, float[] invStd, int statsOffset) {
    int cpg = channels / groups, sampleFloats = channels * spatial, Q = groups * LANES;
    // scratch: [Σd vectors | Σd² vectors | x0 | mean | invStd] per group
    float[] acc = Scratch.borrow(2 * Q + 3 * groups);
    float[] g = PanamaLayerNormSupport.ones(gamma, channels), b = PanamaLayerNormSupport.zeros(beta, channels);
    double invN = 1.0 / ((double) spatial * cpg);
    int redos = 0, frequent = frequentRedos(batch, groups);
    try {
      sampleSums(x, xOffset, xOffset, null, 0, spatial, channels, groups, cpg, g, b, acc);
      for (int n = 0; n < batch; n++) {
        int xs = xOffset + n * sampleFloats;
        for (int grp = 0; grp < groups; grp++) {
          long sums = groupSums(acc, grp, Q);
          long stats = statistics(x, xs + grp * cpg, spatial, channels, cpg, epsilon, sums, redos >= frequent);
          if (PanamaLayerNormSupport.cancels(sums, invN)) redos++;
          keepStatistics(stats, acc, Q, groups, grp, mean, invStd, statsOffset + n * groups);
        }
        // The last sample sums itself again, discarded: one loop for every sample.
        sampleSums(x, n + 1 < batch ? xs + sampleFloats : xs, xs, y, yOffset + n * sampleFloats, spatial, channels, groups, cpg, g, b, acc);
      }
    } finally {
      PanamaLayerNormSupport.release(beta, b);
      PanamaLayerNormSupport.release(gamma, g);
      Scratch.release(acc);
    }
  }

  /**
   * Layer norm's {@link PanamaLayerNormSupport#statistics} steps for a group of {@code runs} runs of
   * {@code width} floats {@code stride} apart. Its two-pass redo (first element far out) is summed by
   * {@link #redoSums} in scalar Java, or, once the call has had {@link #frequentRedos} of them
   * ({@code vector}), by layer norm's statistics itself (its redo is the vector
   * {@link PanamaLayerNormSupport#blockSums}): the same operations per lane in the same order, so the same bits
   * either way ({@code GroupNormRedoTest}). Why both: the redo runs for
   * ~0.5% of Gaussian groups (first element ~2.8 standard deviations out), a few a call, so the vector
   * method reached C2 only after hundreds of redos, and in C1, where vectors are objects, each redo
   * allocated: JMH {@code -prof gc} on NHWC 256x7x7x2048 (8192 groups of 3136 floats, ~40 redos a call)
   * measured 2.3-2.8 MB a call in the 2nd-4th 200 ms iterations of a fresh fork, after the per-sample
   * kernels had reached C2; scalar code allocates nothing in any tier. But it takes ~2.4 us a group of
   * 49x64 floats against the compiled vector loop's ~0.26 us, so data whose groups all redo (a biased first
   * channel) would have paid ~2 ms a call at NHWC 32x7x7x2048: there the vector method runs hundreds of
   * times in the first call and reaches C2 at once.
   */
  static long statistics(float[] x, int at, int runs, int stride, int width, float epsilon, long sums, boolean vector) {
    if (vector) return PanamaLayerNormSupport.statistics(x, at, runs, stride, width, epsilon, sums);
    double invN = 1.0 / ((double) runs * width);
    float m = PanamaLayerNormSupport.shiftedMean(x[at], sums, invN);
    if (PanamaLayerNormSupport.cancels(sums, invN)) sums = redoSums(x, at, runs, stride, width, m);
    return PanamaLayerNormSupport.meanInvStd(m, sums, invN, epsilon);
  }

  /**
   * Redos a call has in scalar Java before the rest take the vector loop: 1/16 of its groups (at least 1).
   * Gaussian data (~0.5% of groups) stays below; a systematic offset, every group, goes over.
   */
  static int frequentRedos(int batch, int groups) {
    return Math.max(1, batch * groups / 16);
  }

  /** Floats of {@link #redoSums}' state: the lanes of its four accumulator vectors, then the scalar tail's two sums. */
  static final int REDO_FLOATS = 4 * LANES + 2;

  /**
   * {@link PanamaLayerNormSupport#blockSums} in scalar Java: Σ(x - shift) and Σ(x - shift)² over
   * {@code runs} runs of {@code width} floats {@code stride} apart, packed the same way, with the same
   * float operations per lane in the same order (two accumulator pairs over {@code 2 * LANES} floats of a
   * run, then one vector, then the scalar tail; the pairs added, then {@link #laneTree}, the vector lane
   * sum's order), so the same bits ({@code GroupNormRedoTest}).
   */
  static long redoSums(float[] x, int at, int runs, int stride, int width, float shift) {
    float[] lanes = Scratch.borrow(REDO_FLOATS);
    try {
      Arrays.fill(lanes, 0, REDO_FLOATS, 0f);
      for (int p = 0; p < runs; p++) redoRun(x, at + p * stride, width, shift, lanes);
      return redoFinish(lanes);
    } finally {
      Scratch.release(lanes);
    }
  }

  /**
   * One run of {@link #redoSums} into {@code lanes} ({@link #REDO_FLOATS}: d0, d1, q0, q1 lane by lane,
   * then the tail's Σd and Σd²). Shared with the segment body, which copies each run to an array first.
   */
  static void redoRun(float[] x, int at, int width, float shift, float[] lanes) {
    int bound2 = width - width % (2 * LANES), vb = width - width % LANES, d1 = LANES, q0 = 2 * LANES, q1 = 3 * LANES, tail = 4 * LANES;
    int i = 0;
    for (; i < bound2; i += 2 * LANES) {
      for (int j = 0; j < LANES; j++) {
        float e0 = x[at + i + j] - shift, e1 = x[at + i + LANES + j] - shift;
        lanes[j] += e0;
        lanes[d1 + j] += e1;
        lanes[q0 + j] = Math.fma(e0, e0, lanes[q0 + j]);
        lanes[q1 + j] = Math.fma(e1, e1, lanes[q1 + j]);
      }
    }
    for (; i < vb; i += LANES) {
      for (int j = 0; j < LANES; j++) {
        float e = x[at + i + j] - shift;
        lanes[j] += e;
        lanes[q0 + j] = Math.fma(e, e, lanes[q0 + j]);
      }
    }
    for (; i < width; i++) {
      float e = x[at + i] - shift;
      lanes[tail] += e;
      lanes[tail + 1] = Math.fma(e, e, lanes[tail + 1]);
    }
  }

  /** {@link #redoSums}' result from its state: d0 + d1 and q0 + q1 lane by lane, lane-summed as the vector tree, added to the tail's sums. */
  static long redoFinish(float[] lanes) {
    for (int j = 0; j < LANES; j++) {
      lanes[j] += lanes[LANES + j];
      lanes[2 * LANES + j] += lanes[3 * LANES + j];
    }
    float sd = lanes[4 * LANES] + laneTree(lanes, 0), sq = lanes[4 * LANES + 1] + laneTree(lanes, 2 * LANES);
    return (long) Float.floatToRawIntBits(sd) << 32 | Float.floatToRawIntBits(sq) & 0xFFFF_FFFFL;
  }

  /** Group {@code grp}'s Σ(x - x0) and Σ(x - x0)² from its accumulator vectors, one lane sum each, packed as layer norm's block sums. */
  static long groupSums(float[] acc, int grp, int Q) {
    float sd = PanamaBatchNormSupport.sumLanes(FloatVector.fromArray(SPECIES, acc, grp * LANES));
    float sq = PanamaBatchNormSupport.sumLanes(FloatVector.fromArray(SPECIES, acc, Q + grp * LANES));
    return (long) Float.floatToRawIntBits(sd) << 32 | Float.floatToRawIntBits(sq) & 0xFFFF_FFFFL;
  }

  /** Keeps group {@code grp}'s packed mean and invStd in {@code acc} for the write pass, and writes them out when asked. */
  static void keepStatistics(long stats, float[] acc, int Q, int groups, int grp, float[] mean, float[] invStd, int statsAt) {
    float m = Float.intBitsToFloat((int) (stats >>> 32)), sc = Float.intBitsToFloat((int) stats);
    acc[2 * Q + groups + grp] = m;
    acc[2 * Q + 2 * groups + grp] = sc;
    if (mean != null) mean[statsAt + grp] = m;
    if (invStd != null) invStd[statsAt + grp] = sc;
  }

  /**
   * In memory order over a sample's rows: the groups' Σ(x - x0) and Σ(x - x0)² of the sample at
   * {@code next} into {@code acc} (zeroed here; x0 each group's first element), and, when {@code y} is
   * not null, in the same loop y of the sample at {@code cur} from the mean and invStd per group in
   * {@code acc}: the next sample's reads stream in while this one's writes go out (as layer norm's
   * rows: in a probe the sample-by-sample version, statistics pass then write pass, ran at 0.65x of a
   * copy). Per group run: two vectors a step (pair sums first: fewer rounding steps into the
   * accumulators), then one vector; cpg is a multiple of the lanes, so no scalar tail.
   */
  private static void sampleSums(float[] x, int next, int cur, float[] y, int yo, int spatial, int channels, int groups, int cpg,
                                 float[] gamma, float[] beta, float[] acc) {
    int Q = groups * LANES, at = 2 * Q, vb = SPECIES.loopBound(cpg), bound2 = cpg - cpg % (2 * LANES);
    for (int grp = 0; grp < groups; grp++) acc[at + grp] = x[next + grp * cpg];
    Arrays.fill(acc, 0, 2 * Q, 0f);
    for (int off = 0, end = spatial * channels; off < end; off += channels) {
      for (int grp = 0, c0 = 0; grp < groups; grp++, c0 += cpg) {
        FloatVector shift = FloatVector.broadcast(SPECIES, acc[at + grp]);
        FloatVector d = FloatVector.fromArray(SPECIES, acc, grp * LANES), q = FloatVector.fromArray(SPECIES, acc, Q + grp * LANES);
        int go = next + off + c0, c = 0;
        for (; c < bound2; c += 2 * LANES) {
          FloatVector e0 = FloatVector.fromArray(SPECIES, x, go + c).sub(shift), e1 = FloatVector.fromArray(SPECIES, x, go + c + LANES).sub(shift);
          d = d.add(e0.add(e1));
          q = q.add(e0.fma(e0, e1.mul(e1)));
        }
        for (; c < vb; c += LANES) {
          FloatVector e = FloatVector.fromArray(SPECIES, x, go + c).sub(shift);
          d = d.add(e);
          q = e.fma(e, q);
        }
        d.intoArray(acc, grp * LANES);
        q.intoArray(acc, Q + grp * LANES);
        if (y != null) { // y = (x - mean) * invStd * gamma + beta; x - mean first: exact for data far from 0 (Sterbenz)
          FloatVector vm = FloatVector.broadcast(SPECIES, acc[at + groups + grp]), vs = FloatVector.broadcast(SPECIES, acc[at + 2 * groups + grp]);
          for (c = c0; c < c0 + cpg; c += LANES) {
            FloatVector.fromArray(SPECIES, x, cur + off + c).sub(vm).mul(vs)
                .fma(FloatVector.fromArray(SPECIES, gamma, c), FloatVector.fromArray(SPECIES, beta, c)).intoArray(y, yo + off + c);
          }
        }
      }
    }
  }

  /**
   * Writes the groups' statistics (when asked) at {@code at} and spreads mean and invStd over each group's
   * channels. Plain stores, not {@code Arrays.fill}: groups are a few channels (one for InstanceNorm), and
   * two fill calls per group were 1.5-5% of a small call (JMH {@code -prof stack}, NCHW 7x13x13x17).
   */
  static void spread(float[] m, float[] v, int groups, int cpg, float epsilon, float[] mean, float[] invStd, int at,
                     float[] chMean, float[] chInvStd) {
    for (int g = 0, c = 0; g < groups; g++) {
      float mg = m[g], s = ScalarBatchNormSupport.invStd(v[g], epsilon);
      if (mean != null) mean[at + g] = mg;
      if (invStd != null) invStd[at + g] = s;
      for (int end = c + cpg; c < end; c++) {
        chMean[c] = mg;
        chInvStd[c] = s;
      }
    }
  }

  /**
   * Group g's mean and biased variance from its {@code cpg} channels' (equal-count) moments at
   * {@code from}, in double, written to {@code m[g]}, {@code v[g]} ({@code g <= from}, so nothing unread
   * is overwritten): {@code mean = avg(mean_c)}, {@code var = avg(var_c) + avg((mean_c - mean)^2)}, with
   * {@code mean_c = m[c] + residual[c]}. The residual matters: a float mean_c is off by up to half an ulp
   * (5e-4 at 1e4), which alone would add ~0.1% to the variance of {@code 1e4 + N(0, 0.01)} through the
   * spread term. A non-finite channel makes the group non-finite, as batch norm's rule does.
   */
  static void mergeChannels(float[] m, float[] residual, float[] v, int from, int cpg, int g) {
    double sum = 0;
    for (int c = from; c < from + cpg; c++) sum += m[c] + (double) residual[c];
    double gm = sum / cpg, spread = 0, within = 0;
    for (int c = from; c < from + cpg; c++) {
      double d = m[c] + (double) residual[c] - gm;
      spread += d * d;
      within += v[c];
    }
    m[g] = (float) gm;
    v[g] = (float) ((within + spread) / cpg);
  }

  @Override
  public void backward(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int batch, int channels, int spatial,
                       int groups, boolean channelsLast, float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] dGamma,
                       float[] dBeta) {
    if (groupsFirst(channelsLast, spatial)) {
      backwardGroupsFirst(x, xOffset, dy, dyOffset, dx, dxOffset, batch, channels, spatial, groups, gamma, mean, invStd, statsOffset,
          dGamma, dBeta);
      return;
    }
    int cpg = channels / groups, sampleFloats = channels * spatial;
    int width = channelsLast ? PanamaBatchNormSupport.superWidth(channels) : -1;
    int floats = scratchFloats(channels);
    float[] coef = Scratch.borrow(floats); // [a | b | k | mean] per channel, then tiled over a super row
    float[] chMean = Scratch.borrow(floats), chInvStd = Scratch.borrow(floats);
    float[] sumDy = Scratch.borrow(floats), sumDyXhat = Scratch.borrow(floats);
    spareForKernel(floats);
    try {
      double count = (double) cpg * spatial;
      boolean streamed = (long) batch * sampleFloats >= PanamaBatchNormSupport.HEAD_MIN_FLOATS; // the samples come from memory
      // Rows in order (PanamaBatchNormSupport.rowOrderSteps) by the whole tensor's size, as batch norm's: NHWC backward,
      // group norm's time over batch norm's in one JVM (twenty-eighth session, docs/probes/GnlBw.java, two JVMs a build;
      // with / without): 64x56x56x64 0.80, 0.71 / 0.97, 1.03; 32x56x56x32 0.91, 0.87 / 1.48, 1.26 (batch norm in order
      // in both).
      boolean rowOrder = (long) batch * sampleFloats >= PanamaBatchNormSupport.ROW_ORDER_MIN_FLOATS;
      for (int n = 0; n < batch; n++) {
        int xs = xOffset + n * sampleFloats, gs = dyOffset + n * sampleFloats, ds = dxOffset + n * sampleFloats, at = statsOffset + n * groups;
        GroupNormRows.spread(mean, invStd, at, channels, groups, chMean, chInvStd);
        // Per channel: Σdy and Σdy*xhat over the sample's positions, in the layout's memory order.
        if (channelsLast) {
          PanamaBatchNormSupport.reduceSample(x, xs, dy, gs, spatial, channels, chMean, chInvStd, sumDy, sumDyXhat, streamed,
              rowOrder);
        } else {
          bn.backwardReduce(x, xs, dy, gs, 1, channels, spatial, chMean, chInvStd, sumDy, sumDyXhat);
        }
        GroupNormRows.coefficients(sumDy, sumDyXhat, channels, groups, gamma, invStd, at, count, chMean, coef, dGamma, dBeta);
        if (!channelsLast) {
          applyChannelsFirst(x, xs, dy, gs, dx, ds, channels, spatial, coef);
        } else if (width < 0) {
          PanamaBatchNormSupport.applyRows(x, xs, dy, gs, dx, ds, spatial, channels, chMean, coef);
        } else {
          PanamaBatchNormSupport.applyPattern(x, xs, dy, gs, dx, ds, sampleFloats, channels, width, coef);
        }
      }
    } finally {
      Scratch.release(sumDyXhat);
      Scratch.release(sumDy);
      Scratch.release(chInvStd);
      Scratch.release(chMean);
      Scratch.release(coef);
    }
  }

  /**
   * Whether the backward takes {@link #backwardGroupsFirst}: channels-first planes of at least one vector
   * (its ragged end is one vector overlapping the plane's last full one). Shorter planes keep batch norm's
   * reduce (one position is a row of channels, which its channels-last reduce vectorizes across).
   */
  static boolean groupsFirst(boolean channelsLast, int spatial) {
    return !channelsLast && spatial >= LANES;
  }

  /**
   * The lanes of a plane's last (overlapping) vector that the loop before it already summed, for a plane of
   * {@code spatial} floats: its first {@code LANES - tail} lanes, {@code tail = spatial - loopBound(spatial)}.
   * They are set to 0 in dy and in {@code x - mean} before the tail's add and FMA (a blend, not a multiply by 0:
   * an infinite dy or x there would give NaN, where the sums hold the IEEE result of adding it once, e.g. +Inf
   * in dBeta).
   */
  static VectorMask<Float> alreadySummed(int spatial) {
    return SPECIES.indexInRange(spatial - SPECIES.loopBound(spatial), LANES);
  }

  /**
   * Channels-first backward one group at a time (a group is {@code cpg} contiguous planes of {@code spatial}
   * floats), in two passes over the group:
   * <ol>
   *   <li>per plane, Σdy and Σdy*(x - mean) as vectors (two accumulator pairs; a ragged end is the vector
   *       ending at the plane's end, its lanes already summed set to 0 ({@link #alreadySummed}): no
   *       scalar tail, no masked load), added into the group's Σgamma_c*dy and Σgamma_c*dy*(x - mean)
   *       vectors, and into the channel's dBeta and dGamma vectors in {@code acc} (dGamma's scaled by the
   *       sample's invStd), which run across all the call's samples. Lanes are summed once per group, and once per channel at
   *       the end of the call;</li>
   *   <li>{@code dx = a_c*dy + b*(x - mean) + k} over the same planes, read again from L1/L2 (a group of
   *       64 planes of 49 floats is 25 KB of x and dy).</li>
   * </ol>
   * Batch norm's channels-first reduce, which this replaced, sums lanes per plane (two lane-sum trees and
   * a scalar tail per 49-float plane, ~18 ns a plane): 0.83x PyTorch at NCHW 32x7x7x2048 on 2 threads
   * (seventh session). The bits depend on the call's samples (their dGamma/dBeta vectors add across them),
   * not on the thread; a staged call (per block of samples) may differ from an unstaged one in dGamma/dBeta's
   * last bits.
   * The native body ({@code PanamaNativeGroupNorm.backwardGroupsFirst}) runs the same operations in the same order.
   * Planes of more than three vectors and at most four ({@link #shortPlane}: 7x7 at 16 lanes) take
   * {@link #shortGroups}: the same two passes, straight-line, and the reduce also loads the plane's dx lines.
   */
  private static void backwardGroupsFirst(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int batch,
                                          int channels, int spatial, int groups, float[] gamma, float[] mean, float[] invStd,
                                          int statsOffset, float[] dGamma, float[] dBeta) {
    int cpg = channels / groups;
    double count = (double) cpg * spatial;
    float[] acc = Scratch.borrow(2 * channels * LANES + LANES); // [Σdy | Σdy*xhat] per channel, one vector each, across the samples; then reduceShort's sink
    try {
      if (shortPlane(spatial)) { // one folded vector per channel ([Σdy | Σdy*xhat] halves), then reduceShort's sink
        Arrays.fill(acc, 0, channels * LANES, 0f);
        shortGroups(x, xOffset, dy, dyOffset, dx, dxOffset, batch, channels, spatial, groups, gamma, mean, invStd, statsOffset, acc);
        foldedSums(acc, channels, dGamma, dBeta);
      } else {
        Arrays.fill(acc, 0, 2 * channels * LANES, 0f);
        for (int n = 0; n < batch; n++) {
          for (int g = 0, c0 = 0; g < groups; g++, c0 += cpg) {
            int at = statsOffset + n * groups + g, p0 = (n * channels + c0) * spatial;
            float m = mean[at], sf = invStd[at];
            long sums = reduceGroup(x, xOffset + p0, dy, dyOffset + p0, c0, cpg, spatial, channels, gamma, m, sf, acc);
            // dx = s*g - s*Σg/n - (x - mean)*s^2*Σ(g*xhat)/n, Σ(g*xhat) = s*Σ(gamma*dy*(x - mean)): b and k per group, in double
            double s = sf, sumG = Float.intBitsToFloat((int) (sums >>> 32)), sumGXhat = s * Float.intBitsToFloat((int) sums);
            applyGroup(x, xOffset + p0, dy, dyOffset + p0, dx, dxOffset + p0, c0, cpg, spatial, gamma, sf, m,
                (float) (-s * s * sumGXhat / count), (float) (-s * sumG / count));
          }
        }
        channelSums(acc, channels, dGamma, dBeta);
      }
    } finally {
      Scratch.release(acc);
    }
  }

  /**
   * {@link #backwardGroupsFirst}'s group loop for {@link #shortPlane short planes} ({@link #reduceShort}, {@link #applyShort}),
   * a method of its own so that the general loop's compiled code (its inlining) stays as it was.
   */
  private static void shortGroups(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int batch, int channels,
                                  int spatial, int groups, float[] gamma, float[] mean, float[] invStd, int statsOffset, float[] acc) {
    int cpg = channels / groups;
    double count = (double) cpg * spatial;
    for (int n = 0; n < batch; n++) {
      for (int g = 0, c0 = 0; g < groups; g++, c0 += cpg) {
        int at = statsOffset + n * groups + g, p0 = (n * channels + c0) * spatial;
        float m = mean[at], sf = invStd[at];
        long sums = reduceShort(x, xOffset + p0, dy, dyOffset + p0, dx, dxOffset + p0, c0, cpg, spatial, channels, gamma, m, sf, acc);
        double s = sf, sumG = Float.intBitsToFloat((int) (sums >>> 32)), sumGXhat = s * Float.intBitsToFloat((int) sums);
        applyShort(x, xOffset + p0, dy, dyOffset + p0, dx, dxOffset + p0, c0, cpg, spatial, gamma, sf, m,
            (float) (-s * s * sumGXhat / count), (float) (-s * sumG / count));
      }
    }
  }

  /**
   * A group's planes at {@code xs}/{@code gs}: adds each plane's Σdy and invStd*Σdy*(x - mean) vectors into
   * its channel's in {@code acc}, and returns the group's Σgamma_c*dy and Σgamma_c*dy*(x - mean), lanes summed
   * once, packed as {@link PanamaBatchNormSupport#sumLanes(FloatVector, FloatVector)}. Only scalars cross
   * these calls: a vector argument of a call C2 does not inline is boxed (672 B a group at NCHW 32x7x7x2048, -prof gc).
   */
  private static long reduceGroup(float[] x, int xs, float[] dy, int gs, int c0, int cpg, int spatial, int channels, float[] gamma,
                                  float m, float sf, float[] acc) {
    int upper = spatial - spatial % (2 * LANES), vb = SPECIES.loopBound(spatial), last = spatial - LANES, cl = channels * LANES;
    VectorMask<Float> seen = alreadySummed(spatial); // used only when vb < spatial
    FloatVector zero = FloatVector.zero(SPECIES);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vs = FloatVector.broadcast(SPECIES, sf);
    FloatVector sg = FloatVector.zero(SPECIES), sh = FloatVector.zero(SPECIES);
    for (int c = c0, p = 0; c < c0 + cpg; c++, p += spatial) {
      int xp = xs + p, gp = gs + p, i = 0;
      FloatVector g0 = FloatVector.zero(SPECIES), g1 = FloatVector.zero(SPECIES);
      FloatVector h0 = FloatVector.zero(SPECIES), h1 = FloatVector.zero(SPECIES);
      for (; i < upper; i += 2 * LANES) {
        FloatVector d0 = FloatVector.fromArray(SPECIES, dy, gp + i), d1 = FloatVector.fromArray(SPECIES, dy, gp + i + LANES);
        g0 = g0.add(d0);
        g1 = g1.add(d1);
        h0 = d0.fma(FloatVector.fromArray(SPECIES, x, xp + i).sub(vm), h0);
        h1 = d1.fma(FloatVector.fromArray(SPECIES, x, xp + i + LANES).sub(vm), h1);
      }
      for (; i < vb; i += LANES) {
        FloatVector d0 = FloatVector.fromArray(SPECIES, dy, gp + i);
        g0 = g0.add(d0);
        h0 = d0.fma(FloatVector.fromArray(SPECIES, x, xp + i).sub(vm), h0);
      }
      if (vb < spatial) { // the lanes summed above are 0 in dy and x - mean: adding them again adds 0 (as the scalar tail did not)
        FloatVector d1 = FloatVector.fromArray(SPECIES, dy, gp + last).blend(zero, seen);
        g1 = g1.add(d1);
        h1 = d1.fma(FloatVector.fromArray(SPECIES, x, xp + last).sub(vm).blend(zero, seen), h1);
      }
      FloatVector pg = g0.add(g1), ph = h0.add(h1);
      FloatVector gc = FloatVector.broadcast(SPECIES, gamma == null ? 1f : gamma[c]); // fma by 1 is the plain add
      sg = pg.fma(gc, sg);
      sh = ph.fma(gc, sh);
      int ca = c * LANES;
      FloatVector.fromArray(SPECIES, acc, ca).add(pg).intoArray(acc, ca);
      ph.fma(vs, FloatVector.fromArray(SPECIES, acc, cl + ca)).intoArray(acc, cl + ca);
    }
    return PanamaBatchNormSupport.sumLanes(sg, sh);
  }

  /**
   * Whether the channels-first backward's planes take {@link #reduceShort}/{@link #applyShort}: more than three
   * vectors and at most four ({@code 3*LANES < spatial <= 4*LANES}: 7x7 = 49 floats at 16 lanes, 8x8 at 16, 5x5 at
   * 8), a choice from the shape only (so the same for every thread count and for float[] and segments).
   */
  static boolean shortPlane(int spatial) {
    return spatial > 3 * LANES && spatial <= 4 * LANES;
  }

  /**
   * The lanes of a short plane's fourth vector (the one ending at the plane's end) that its first three already
   * hold: lanes {@code < 4*LANES - spatial} (none at {@code spatial == 4*LANES}). Set to 0 by a blend, as
   * {@link #alreadySummed}.
   */
  static VectorMask<Float> shortSeen(int spatial) {
    return SPECIES.indexInRange(0, 4 * LANES - spatial);
  }

  /**
   * {@link #reduceGroup} for {@link #shortPlane short planes}, straight-line: each plane is four vectors (at 0,
   * LANES, 2*LANES and the one ending at the plane's end, its lanes already held set to 0), summed as a tree
   * ({@code (d0 + d1) + (d2 + d3)}, {@code d1*e1 + d0*e0} and {@code d3*e3 + d2*e2} by FMA, then added), with no
   * inner loops: at 7x7 the loops of {@link #reduceGroup} ran one trip each, and the plane's fixed cost was about
   * half its time in cache (in a probe: 5.4 against 9.3 µs for 512 planes of 49 floats, L2-resident).
   * It also loads the plane's dx lines (four vectors, blended into one kept vector stored once into {@code acc}'s
   * last {@code LANES} floats, so C2 keeps the loads): the apply then writes lines already in cache instead of
   * waiting for each line's read-for-ownership after the reduce's reads, which at NCHW 32x7x7x2048 (38.5 MB
   * of x, dy and dx, more than the L3) made the apply as slow as the reduce. dx may be x or dy (loads only).
   * A channel's Σdy and invStd*Σdy*(x - mean) vectors are folded into one (lower half: Σdy's two halves added;
   * upper half: Σdy*(x - mean)'s, times invStd), added into the channel's one vector in {@code acc} (summed by
   * {@link #foldedSums}): one load and one store a plane, and half the accumulator footprint (128 KB at 2048
   * channels, in the L2 with the group's data), instead of two of each (session 16, gn16).
   */
  private static long reduceShort(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int c0, int cpg, int spatial, int channels,
                                  float[] gamma, float m, float sf, float[] acc) {
    int last = spatial - LANES, cl = channels * LANES;
    VectorMask<Float> seen = shortSeen(spatial);
    FloatVector zero = FloatVector.zero(SPECIES);
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vsh = FloatVector.broadcast(SPECIES, 1f).blend(FloatVector.broadcast(SPECIES, sf), UPPER_HALF);
    FloatVector sg = FloatVector.zero(SPECIES), sh = FloatVector.zero(SPECIES), touch = FloatVector.zero(SPECIES);
    for (int c = c0, p = 0; c < c0 + cpg; c++, p += spatial) {
      int xp = xs + p, gp = gs + p, dp = ds + p;
      FloatVector d0 = FloatVector.fromArray(SPECIES, dy, gp), d1 = FloatVector.fromArray(SPECIES, dy, gp + LANES);
      FloatVector d2 = FloatVector.fromArray(SPECIES, dy, gp + 2 * LANES);
      FloatVector d3 = FloatVector.fromArray(SPECIES, dy, gp + last).blend(zero, seen);
      FloatVector e0 = FloatVector.fromArray(SPECIES, x, xp).sub(vm), e1 = FloatVector.fromArray(SPECIES, x, xp + LANES).sub(vm);
      FloatVector e2 = FloatVector.fromArray(SPECIES, x, xp + 2 * LANES).sub(vm);
      FloatVector e3 = FloatVector.fromArray(SPECIES, x, xp + last).sub(vm).blend(zero, seen);
      FloatVector t01 = FloatVector.fromArray(SPECIES, dx, dp).blend(FloatVector.fromArray(SPECIES, dx, dp + LANES), seen);
      FloatVector t23 = FloatVector.fromArray(SPECIES, dx, dp + 2 * LANES).blend(FloatVector.fromArray(SPECIES, dx, dp + last), seen);
      touch = touch.blend(t01.blend(t23, seen), seen);
      FloatVector pg = d0.add(d1).add(d2.add(d3));
      FloatVector ph = d1.fma(e1, d0.mul(e0)).add(d3.fma(e3, d2.mul(e2)));
      FloatVector gc = FloatVector.broadcast(SPECIES, gamma == null ? 1f : gamma[c]); // fma by 1 is the plain add
      sg = pg.fma(gc, sg);
      sh = ph.fma(gc, sh);
      // [pg_lo + pg_hi | ph_hi + ph_lo]: one vector per channel; the upper half is scaled by invStd (fma by 1 is the plain add)
      FloatVector fold = pg.blend(ph, UPPER_HALF).add(ph.blend(pg, UPPER_HALF).rearrange(SWAP_HALVES));
      int ca = c * LANES;
      fold.fma(vsh, FloatVector.fromArray(SPECIES, acc, ca)).intoArray(acc, ca);
    }
    touch.intoArray(acc, cl);
    return PanamaBatchNormSupport.sumLanes(sg, sh);
  }

  /**
   * {@link #applyGroup} for {@link #shortPlane short planes}: each plane's four vectors (the last ending at the
   * plane's end) computed from loads made before its stores (dx may be x or dy), then stored, the last rewriting
   * the same values where it overlaps. The same formula per element as {@link #applyGroup}, so the same bits.
   */
  private static void applyShort(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int c0, int cpg, int spatial,
                                 float[] gamma, float sf, float m, float b, float k) {
    int last = spatial - LANES;
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vb = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    for (int c = c0, p = 0; c < c0 + cpg; c++, p += spatial) {
      FloatVector va = FloatVector.broadcast(SPECIES, gamma == null ? sf : gamma[c] * sf);
      int xp = xs + p, gp = gs + p, dp = ds + p;
      FloatVector r0 = FloatVector.fromArray(SPECIES, dy, gp).fma(va, FloatVector.fromArray(SPECIES, x, xp).sub(vm).fma(vb, vk));
      FloatVector r1 = FloatVector.fromArray(SPECIES, dy, gp + LANES).fma(va, FloatVector.fromArray(SPECIES, x, xp + LANES).sub(vm).fma(vb, vk));
      FloatVector r2 = FloatVector.fromArray(SPECIES, dy, gp + 2 * LANES)
          .fma(va, FloatVector.fromArray(SPECIES, x, xp + 2 * LANES).sub(vm).fma(vb, vk));
      FloatVector r3 = FloatVector.fromArray(SPECIES, dy, gp + last).fma(va, FloatVector.fromArray(SPECIES, x, xp + last).sub(vm).fma(vb, vk));
      r0.intoArray(dx, dp);
      r1.intoArray(dx, dp + LANES);
      r2.intoArray(dx, dp + 2 * LANES);
      r3.intoArray(dx, dp + last);
    }
  }

  /**
   * Adds each channel's Σdy and Σdy*xhat vectors in {@code acc}, lanes summed, into dBeta and dGamma (when not null).
   * Scalar ({@link #laneTree}; {@code acc} is the call's and is dropped): the same additions in the same order as
   * {@link PanamaBatchNormSupport#sumLanes}'s rotation tree (lane j plus lane j + s, s = lanes/2 down to 1, lane 0
   * kept), so the same bits. Why not the vector tree: this runs once per call, so C2 compiles it only after
   * ~600 calls; until then C1 boxed its vectors, 12.3 KB a call at NCHW 64x56x56x64 (64 channels, {@code -prof
   * gc}). Scalar code allocates nothing in any tier.
   */
  static void channelSums(float[] acc, int channels, float[] dGamma, float[] dBeta) {
    int cl = channels * LANES;
    for (int c = 0; c < channels; c++) {
      float beta = laneTree(acc, c * LANES), gamma = laneTree(acc, cl + c * LANES);
      if (dBeta != null) dBeta[c] += beta;
      if (dGamma != null) dGamma[c] += gamma;
    }
  }

  /**
   * {@link #channelSums} for {@link #reduceShort}'s folded accumulators (one vector per channel at {@code c*LANES}:
   * Σdy in the lower half of the lanes, Σdy*xhat in the upper half): each half's lanes summed as the rotation
   * tree's last levels ({@link #halfTree}), scalar for the same reason.
   */
  static void foldedSums(float[] acc, int channels, float[] dGamma, float[] dBeta) {
    for (int c = 0; c < channels; c++) {
      float beta = halfTree(acc, c * LANES), gamma = halfTree(acc, c * LANES + LANES / 2);
      if (dBeta != null) dBeta[c] += beta;
      if (dGamma != null) dGamma[c] += gamma;
    }
  }

  /** The {@code LANES / 2} floats at {@code at} summed as {@link #laneTree}'s levels after its first (may overwrite them for widths other than 8 and 16). */
  private static float halfTree(float[] v, int at) {
    return switch (LANES) {
      case 16 -> tree8(v[at], v[at + 1], v[at + 2], v[at + 3], v[at + 4], v[at + 5], v[at + 6], v[at + 7]);
      case 8 -> tree4(v[at], v[at + 1], v[at + 2], v[at + 3]);
      default -> {
        for (int s = LANES / 4; s >= 1; s /= 2) {
          for (int j = at; j < at + s; j++) v[j] += v[j + s];
        }
        yield v[at];
      }
    };
  }

  /**
   * {@link PanamaBatchNormSupport#sumLanes}'s lane 0 for the {@code LANES} floats at {@code at}, in scalar: lane j
   * plus lane j + s, s = lanes/2 down to 1. Straight-line code in locals for 4, 8 and 16 lanes (LANES is a
   * constant, so C2 keeps one case): the loop form (trip counts 8, 4, 2, 1, through memory) took ~95 µs a call
   * at 2048 channels, paid once per chunk in ParallelNorms (32 chunks at NCHW 32x7x7x2048); this takes ~10 µs.
   * For 4, 8 and 16 lanes it does not write {@code v}; other widths ({@link #laneLoop}) sum in place.
   */
  private static float laneTree(float[] v, int at) {
    return switch (LANES) {
      case 16 -> tree8(v[at] + v[at + 8], v[at + 1] + v[at + 9], v[at + 2] + v[at + 10], v[at + 3] + v[at + 11],
          v[at + 4] + v[at + 12], v[at + 5] + v[at + 13], v[at + 6] + v[at + 14], v[at + 7] + v[at + 15]);
      case 8 -> tree8(v[at], v[at + 1], v[at + 2], v[at + 3], v[at + 4], v[at + 5], v[at + 6], v[at + 7]);
      case 4 -> tree4(v[at], v[at + 1], v[at + 2], v[at + 3]);
      default -> laneLoop(v, at);
    };
  }

  /** The tree's last three levels over 8 values: (a_j + a_{j+4}), then (b_j + b_{j+2}), then (c_0 + c_1). */
  private static float tree8(float a0, float a1, float a2, float a3, float a4, float a5, float a6, float a7) {
    return tree4(a0 + a4, a1 + a5, a2 + a6, a3 + a7);
  }

  private static float tree4(float b0, float b1, float b2, float b3) {
    return (b0 + b2) + (b1 + b3);
  }

  /** Any other width (2, 32, 64 lanes): the same tree in place (overwrites the {@code LANES} floats). */
  private static float laneLoop(float[] v, int at) {
    for (int s = LANES / 2; s >= 1; s /= 2) {
      for (int j = at; j < at + s; j++) v[j] += v[j + s];
    }
    return v[at];
  }

  /**
   * {@code dx = a_c*dy + ((x - mean)*b + k)} over a group's {@code cpg} planes starting at {@code xs}/{@code gs}/{@code ds},
   * {@code a_c = gamma_c*invStd}, planes of at least one vector; a ragged end is one vector ending at the plane's
   * end, computed before the plane's stores (dx may be x or dy) and stored after, rewriting the same values
   * ({@link #applyChannelsFirst}'s order).
   */
  private static void applyGroup(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int c0, int cpg, int spatial,
                                 float[] gamma, float sf, float m, float b, float k) {
    int bound = SPECIES.loopBound(spatial), last = spatial - LANES;
    FloatVector vm = FloatVector.broadcast(SPECIES, m), vb = FloatVector.broadcast(SPECIES, b), vk = FloatVector.broadcast(SPECIES, k);
    for (int c = c0, p = 0; c < c0 + cpg; c++, p += spatial) {
      FloatVector va = FloatVector.broadcast(SPECIES, gamma == null ? sf : gamma[c] * sf);
      FloatVector end = FloatVector.fromArray(SPECIES, dy, gs + p + last)
          .fma(va, FloatVector.fromArray(SPECIES, x, xs + p + last).sub(vm).fma(vb, vk));
      for (int i = 0; i < bound; i += LANES) {
        int q = p + i;
        FloatVector.fromArray(SPECIES, dy, gs + q).fma(va, FloatVector.fromArray(SPECIES, x, xs + q).sub(vm).fma(vb, vk))
            .intoArray(dx, ds + q);
      }
      if (bound < spatial) end.intoArray(dx, ds + p + last);
    }
  }

  /** {@code dx = a*dy + b*(x - mean) + k} along each channel's contiguous positions, coefficients {@code [a | b | k | mean]}. */
  private static void applyChannelsFirst(float[] x, int xs, float[] dy, int gs, float[] dx, int ds, int channels, int spatial,
                                         float[] coef) {
    int vectorBound = SPECIES.loopBound(spatial);
    for (int c = 0; c < channels; c++) {
      float a = coef[c], b = coef[channels + c], k = coef[2 * channels + c], m = coef[3 * channels + c];
      FloatVector va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b);
      FloatVector vk = FloatVector.broadcast(SPECIES, k), vm = FloatVector.broadcast(SPECIES, m);
      int off = c * spatial, i = 0;
      if (vectorBound != spatial && spatial > LANES) {
        // Ragged plane (7x7 = 3 vectors + 1 at 16 lanes, 13x13 = 10 + 9): one vector ending at the plane's end
        // instead of a scalar tail, as batch norm's normalize does. It overlaps elements the loop writes, so it is
        // computed before any store to this plane (dx may be x or dy) and stored after, rewriting the same values:
        // the same formula per element, so the same bits as the scalar tail.
        int q = off + spatial - LANES;
        FloatVector last = FloatVector.fromArray(SPECIES, dy, gs + q).fma(va, FloatVector.fromArray(SPECIES, x, xs + q).sub(vm).fma(vb, vk));
        for (; i < vectorBound; i += LANES) {
          int p = off + i;
          FloatVector.fromArray(SPECIES, dy, gs + p).fma(va, FloatVector.fromArray(SPECIES, x, xs + p).sub(vm).fma(vb, vk))
              .intoArray(dx, ds + p);
        }
        last.intoArray(dx, ds + q);
        continue;
      }
      for (; i < vectorBound; i += LANES) {
        int p = off + i;
        FloatVector.fromArray(SPECIES, dy, gs + p).fma(va, FloatVector.fromArray(SPECIES, x, xs + p).sub(vm).fma(vb, vk))
            .intoArray(dx, ds + p);
      }
      for (; i < spatial; i++) { // scalar tail
        int p = off + i;
        dx[ds + p] = Math.fma(dy[gs + p], a, Math.fma(x[xs + p] - m, b, k));
      }
    }
  }
  // ---------------------------------------------------------------- plain native segments

  @Override
  public boolean forwardNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int batch, int channels, int spatial,
                               int groups, boolean channelsLast, float[] gamma, float[] beta, float epsilon, float[] mean,
                               float[] invStd, int statsOffset) {
    return PanamaNativeGroupNorm.forward(bn, x, xOffset, y, yOffset, batch, channels, spatial, groups, channelsLast, gamma, beta,
        epsilon, mean, invStd, statsOffset);
  }

  @Override
  public boolean backwardNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset,
                                int batch, int channels, int spatial, int groups, boolean channelsLast, float[] gamma, float[] mean,
                                float[] invStd, int statsOffset, float[] dGamma, float[] dBeta) {
    return PanamaNativeGroupNorm.backward(bn, x, xOffset, dy, dyOffset, dx, dxOffset, batch, channels, spatial, groups, channelsLast,
        gamma, mean, invStd, statsOffset, dGamma, dBeta);
  }

  // ---------------------------------------------------------------- row ranges of a channels-last sample

  /** Batch norm's channels-last moments over the range's rows (each range is a batch-norm tensor of its own). */
  @Override
  public void rowMoments(float[] x, int xOffset, int rows, int channels, float[] mean, float[] meanResidual, float[] variance) {
    bn.moments(x, xOffset, rows, channels, 1, mean, meanResidual, variance);
  }

  @Override
  public void rowNormalize(float[] x, int xOffset, float[] y, int yOffset, int rows, int channels, float[] chMean, float[] chInvStd,
                           float[] gamma, float[] beta) {
    bn.normalize(x, xOffset, y, yOffset, rows, channels, 1, chMean, chInvStd, false, 0f, gamma, beta);
  }

  @Override
  public void rowGradientSums(float[] x, int xOffset, float[] dy, int dyOffset, int rows, int channels, float[] chMean,
                              float[] chInvStd, float[] sumDy, float[] sumDyXhat) {
    bn.backwardReduce(x, xOffset, dy, dyOffset, rows, channels, 1, chMean, chInvStd, sumDy, sumDyXhat);
  }

  /**
   * As {@link #backward}'s channels-last apply, on a pooled copy of the coefficients (tiled over a super
   * row there): the ranges of one sample share {@code coef} and run at once.
   */
  @Override
  public void rowApply(float[] x, int xOffset, float[] dy, int dyOffset, float[] dx, int dxOffset, int rows, int channels,
                       float[] coef) {
    int width = PanamaBatchNormSupport.superWidth(channels);
    if (width < 0) { // wide ragged rows: coefficients per channel as they are, the means read from index 0
      float[] m = Scratch.borrow(channels);
      try {
        System.arraycopy(coef, 3 * channels, m, 0, channels);
        PanamaBatchNormSupport.applyRows(x, xOffset, dy, dyOffset, dx, dxOffset, rows, channels, m, coef);
      } finally {
        Scratch.release(m);
      }
      return;
    }
    float[] s = Scratch.borrow(4 * channels + 4 * width);
    try {
      System.arraycopy(coef, 0, s, 0, 4 * channels);
      PanamaBatchNormSupport.applyPattern(x, xOffset, dy, dyOffset, dx, dxOffset, rows * channels, channels, width, s); // a range starts on a row
    } finally {
      Scratch.release(s);
    }
  }

  @Override
  public boolean rowMomentsNative(MemorySegment x, long xOffset, int rows, int channels, float[] mean, float[] meanResidual,
                                  float[] variance) {
    return bn.momentsNative(x, xOffset, rows, channels, 1, mean, meanResidual, variance);
  }

  @Override
  public boolean rowNormalizeNative(MemorySegment x, long xOffset, MemorySegment y, long yOffset, int rows, int channels, float[] chMean,
                                    float[] chInvStd, float[] gamma, float[] beta) {
    return bn.normalizeNative(x, xOffset, y, yOffset, rows, channels, 1, chMean, chInvStd, false, 0f, gamma, beta); // rows too wide for super rows included
  }

  @Override
  public boolean rowGradientSumsNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, int rows, int channels,
                                       float[] chMean, float[] chInvStd, float[] sumDy, float[] sumDyXhat) {
    return bn.backwardReduceNative(x, xOffset, dy, dyOffset, rows, channels, 1, chMean, chInvStd, sumDy, sumDyXhat);
  }

  /** As {@link #rowApply} on segments (rows too wide for super rows: the means read from the coefficients in place). */
  @Override
  public boolean rowApplyNative(MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset, int rows,
                                int channels, float[] coef) {
    int width = PanamaBatchNormSupport.superWidth(channels);
    if (width < 0) {
      PanamaNativeBackward.applyRows(x, xOffset, dy, dyOffset, dx, dxOffset, rows, channels, coef, 3 * channels, coef);
      return true;
    }
    float[] s = Scratch.borrow(4 * channels + 4 * width);
    try {
      System.arraycopy(coef, 0, s, 0, 4 * channels);
      PanamaNativeBackward.applyPattern(x, xOffset, dy, dyOffset, dx, dxOffset, (long) rows * channels, channels, width, s); // a range starts on a row
    } finally {
      Scratch.release(s);
    }
    return true;
  }
}
