package dev.vecnorm.layers;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.Moments;
import dev.vecnorm.NormShape;
import dev.vecnorm.ParallelBatchNorm;
import java.util.Arrays;

/**
 * The training forward and backward of ghost batch norm (tf.keras 2's {@code virtual_batch_size}) on
 * the {@link BatchNorm} kernels, for {@link BatchNormalization}.
 *
 * <p>tf.keras 2 reshapes a batch of {@code B} samples to {@code [size, B / size, ...]} and reduces over
 * the first axis, so with {@code groups = B / size} virtual batches, sample {@code b} belongs to
 * virtual batch {@code b % groups}: the virtual batches interleave ({@code j, j + groups, j + 2 groups,
 * ...}), they are not contiguous runs of samples. Both layouts below run on the input in place, without
 * a copy:
 * <ul>
 *   <li>Channel axis 1 (rank 2 {@code [B, C]}, channels-first {@code [B, C, ...]}): the reshape is itself
 *       a batch-norm tensor {@code [outer = size, channels = groups * C, inner]}, whose channel
 *       {@code j * C + c} is channel {@code c} of virtual batch {@code j}. One kernel call on that view,
 *       with gamma and beta tiled {@code groups} times, computes every virtual batch at once (and runs
 *       on the layer's {@link ParallelBatchNorm} if it has one).</li>
 *   <li>Channel axis 2 or later (channels-last {@code [B, H, W, C]}, {@code [B, T, C]}): each sample is a
 *       contiguous block {@code [between, C, inner]}. A virtual batch's moments are the per-sample
 *       kernel moments merged with Chan's formula ({@link Moments#merge}), then each sample is
 *       normalized at its offset; backward sums per sample with {@link BatchNorm#backwardReduce}, then
 *       {@link BatchNorm#backwardApply} per sample with its virtual batch's sums.</li>
 * </ul>
 * A single virtual batch ({@code size == B}) is plain batch norm: one call on the layer's own tensor.
 * The per-virtual-batch statistics are kept for backward as {@code float[groups * C]}, virtual batch
 * major.
 */
final class GhostBatches {
  private final int size;

  // Layout of the last training call.
  private int groups, channels, between, inner;
  private float[] mean = new float[0], variance = new float[0], invStd = new float[0];
  private float[] tiledGamma, tiledBeta, groupSumDy, groupSumDyXhat;
  // Channel-axis >= 2: one virtual batch's statistics and sums, float[channels] as the kernels take them.
  private float[] oneMean, oneVariance, oneInvStd, oneSumDy, oneSumDyXhat, sampleSumDy, sampleSumDyXhat;
  private Moments sampleMoments, groupMoments;

  GhostBatches(int size) {
    this.size = size;
  }

  int size() {
    return size;
  }

  /** Before anything changes: a training batch must split into whole virtual batches. */
  void checkBatch(String layer, int[] shape) {
    int batch = shape[0];
    if (batch < 1 || batch % size != 0) {
      throw new IllegalArgumentException(layer + ": training with virtualBatchSize=" + size + " needs a batch size that is a positive"
          + " multiple of " + size + ", got " + batch + " (input shape " + Arrays.toString(shape) + ")");
    }
  }

  /**
   * Training forward of a batch {@link #checkBatch checked} before: writes {@code y} and, for the
   * moving statistics, the mean over virtual batches of their means into {@code batchMean} and of their
   * biased variances into {@code batchVariance} (tf.keras 2: {@code reduce_mean} over the virtual-batch
   * axis of each). Returns the element count per channel of one virtual batch.
   */
  long forward(int[] shape, NormShape s, float[] x, float[] gamma, float[] beta, float epsilon, ParallelBatchNorm parallel,
               float[] y, float[] batchMean, float[] batchVariance) {
    layout(shape[0], s);
    if (oneCall()) {
      NormShape view = view(s);
      tiledGamma = tile(gamma, tiledGamma);
      tiledBeta = tile(beta, tiledBeta);
      if (parallel != null) parallel.forwardTraining(view, x, 0, tiledGamma, tiledBeta, epsilon, y, 0, mean, variance, invStd);
      else BatchNorm.forwardTraining(view, x, 0, tiledGamma, tiledBeta, epsilon, y, 0, mean, variance, invStd);
    } else {
      NormShape sample = new NormShape(between, channels, inner);
      int sampleSize = between * channels * inner;
      for (int j = 0; j < groups; j++) {
        groupMoments.reset();
        for (int i = 0; i < size; i++) {
          BatchNorm.moments(sample, x, (i * groups + j) * sampleSize, sampleMoments);
          groupMoments.merge(sampleMoments);
        }
        groupMoments.meanTo(oneMean);
        groupMoments.varianceTo(oneVariance);
        groupMoments.invStdTo(epsilon, oneInvStd);
        for (int i = 0; i < size; i++) {
          int off = (i * groups + j) * sampleSize;
          BatchNorm.normalize(sample, x, off, oneMean, oneInvStd, gamma, beta, y, off);
        }
        System.arraycopy(oneMean, 0, mean, j * channels, channels);
        System.arraycopy(oneVariance, 0, variance, j * channels, channels);
        System.arraycopy(oneInvStd, 0, invStd, j * channels, channels);
      }
    }
    for (int c = 0; c < channels; c++) {
      double m = 0, v = 0;
      for (int j = 0; j < groups; j++) {
        m += mean[j * channels + c];
        v += variance[j * channels + c];
      }
      batchMean[c] = (float) (m / groups);
      batchVariance[c] = (float) (v / groups);
    }
    return (long) size * between * inner;
  }

  /**
   * Backward of the last {@link #forward}: {@code dx} of each virtual batch from its own statistics
   * and sums (a batch-norm backward per virtual batch), and the gamma/beta sums over all virtual
   * batches into {@code sumDyXhat} and {@code sumDy}. {@code gamma} is the forward's (null for 1).
   */
  void backward(NormShape s, float[] x, float[] dy, float[] gamma, ParallelBatchNorm parallel, float[] dx, float[] sumDy, float[] sumDyXhat) {
    Arrays.fill(sumDy, 0f);
    Arrays.fill(sumDyXhat, 0f);
    if (oneCall()) {
      NormShape view = view(s);
      if (parallel != null) parallel.backward(view, x, 0, dy, 0, tiledGamma, mean, invStd, dx, 0, groupSumDyXhat, groupSumDy);
      else BatchNorm.backward(view, x, 0, dy, 0, tiledGamma, mean, invStd, dx, 0, groupSumDyXhat, groupSumDy);
      for (int j = 0; j < groups; j++) {
        for (int c = 0; c < channels; c++) {
          sumDy[c] += groupSumDy[j * channels + c];
          sumDyXhat[c] += groupSumDyXhat[j * channels + c];
        }
      }
      return;
    }
    NormShape sample = new NormShape(between, channels, inner);
    int sampleSize = between * channels * inner;
    long count = (long) size * between * inner;
    for (int j = 0; j < groups; j++) {
      System.arraycopy(mean, j * channels, oneMean, 0, channels);
      System.arraycopy(invStd, j * channels, oneInvStd, 0, channels);
      Arrays.fill(oneSumDy, 0f);
      Arrays.fill(oneSumDyXhat, 0f);
      for (int i = 0; i < size; i++) {
        int off = (i * groups + j) * sampleSize;
        BatchNorm.backwardReduce(sample, x, off, dy, off, oneMean, oneInvStd, sampleSumDy, sampleSumDyXhat);
        for (int c = 0; c < channels; c++) {
          oneSumDy[c] += sampleSumDy[c];
          oneSumDyXhat[c] += sampleSumDyXhat[c];
        }
      }
      for (int i = 0; i < size; i++) {
        int off = (i * groups + j) * sampleSize;
        BatchNorm.backwardApply(sample, x, off, dy, off, gamma, oneMean, oneInvStd, oneSumDy, oneSumDyXhat, count, dx, off);
      }
      for (int c = 0; c < channels; c++) {
        sumDy[c] += oneSumDy[c];
        sumDyXhat[c] += oneSumDyXhat[c];
      }
    }
  }

  /**
   * Channel axis 1, or a single virtual batch (plain batch norm, whatever the layout): one kernel call
   * on {@link #view}.
   */
  private boolean oneCall() {
    return between == 1 || groups == 1;
  }

  /** The layer's tensor {@code s} as {@code [size, groups * C, inner]} (channel axis 1), or {@code s} itself for one virtual batch. */
  private NormShape view(NormShape s) {
    return groups == 1 ? s : new NormShape(size, groups * channels, inner);
  }

  /** Sizes the scratch for {@code batch} samples of the layer's {@code [outer, channels, inner]} view. */
  private void layout(int batch, NormShape s) {
    groups = batch / size;
    between = s.outer() / batch;
    inner = s.inner();
    if (channels != s.channels()) {
      channels = s.channels();
      oneMean = new float[channels];
      oneVariance = new float[channels];
      oneInvStd = new float[channels];
      oneSumDy = new float[channels];
      oneSumDyXhat = new float[channels];
      sampleSumDy = new float[channels];
      sampleSumDyXhat = new float[channels];
      sampleMoments = new Moments(channels);
      groupMoments = new Moments(channels);
    }
    int n = groups * channels;
    if (mean.length != n) {
      mean = new float[n];
      variance = new float[n];
      invStd = new float[n];
      groupSumDy = new float[n];
      groupSumDyXhat = new float[n];
    }
  }

  /** {@code p} repeated for every virtual batch, into {@code into} when it has the length; null stays null. */
  private float[] tile(float[] p, float[] into) {
    if (p == null) return null;
    int n = groups * channels;
    float[] t = into != null && into.length == n ? into : new float[n];
    for (int j = 0; j < groups; j++) System.arraycopy(p, 0, t, j * channels, channels);
    return t;
  }
}
