package dev.vecnorm;

import java.util.Arrays;
import java.util.Objects;

/**
 * Per-channel count, mean and M2 (sum of squared deviations from the mean) of some part of a batch:
 * the local statistics of synchronized (cross-replica) batch normalization.
 *
 * <p>{@link #merge} combines two parts with Chan, Golub and LeVeque's pairwise formula in double
 * precision, so any split of a batch, merged in any grouping, gives the moments of the whole batch
 * up to double rounding: {@code delta = meanB - meanA}, {@code mean = meanA + delta * nB / n},
 * {@code M2 = M2A + M2B + delta^2 * nA * nB / n}. {@link #pack()} and {@link #unpack} turn moments
 * into one {@code double[]} for an all-gather.
 */
public final class Moments {

  private final int channels;
  private long count;
  private final double[] mean;
  private final double[] m2;
  // Kernels write float; kept here so computing local moments allocates nothing after construction.
  final float[] scratchMean;
  final float[] scratchM2;
  /** The float means' rounding errors: replicas' moments merge with Chan's formula, which needs the mean to better than a float. */
  final float[] scratchMeanResidual;

  /**
   * Empty moments (count 0) for {@code channels} channels.
   *
   * @param channels number of channels, at least 1
   */
  public Moments(int channels) {
    if (channels < 1) throw new IllegalArgumentException("channels must be >= 1, got " + channels);
    this.channels = channels;
    this.mean = new double[channels];
    this.m2 = new double[channels];
    this.scratchMean = new float[channels];
    this.scratchM2 = new float[channels];
    this.scratchMeanResidual = new float[channels];
  }

  /**
   * Moments from explicit values (copied).
   *
   * @param count elements per channel the moments cover, at least 0
   * @param mean per-channel means, {@code double[channels]}, copied
   * @param m2 per-channel sums of squared deviations from the mean, same length as {@code mean}, copied
   * @return new moments holding copies of the arrays
   */
  public static Moments of(long count, double[] mean, double[] m2) {
    Objects.requireNonNull(mean, "mean");
    Objects.requireNonNull(m2, "m2");
    if (count < 0) throw new IllegalArgumentException("count must be >= 0, got " + count);
    if (mean.length != m2.length) {
      throw new IllegalArgumentException("m2 must have length mean.length = " + mean.length + ", got " + m2.length);
    }
    Moments m = new Moments(mean.length);
    m.count = count;
    System.arraycopy(mean, 0, m.mean, 0, mean.length);
    System.arraycopy(m2, 0, m.m2, 0, m2.length);
    return m;
  }

  void setFromScratch(long newCount) {
    count = newCount;
    for (int c = 0; c < channels; c++) {
      mean[c] = Float.isFinite(scratchMean[c]) ? (double) scratchMean[c] + scratchMeanResidual[c] : scratchMean[c];
      m2[c] = (double) scratchM2[c] * newCount; // the kernels write the variance
    }
  }

  /**
   * Channels these moments cover.
   *
   * @return the number of channels
   */
  public int channels() {
    return channels;
  }

  /**
   * Elements per channel these moments cover.
   *
   * @return elements per channel, 0 when empty
   */
  public long count() {
    return count;
  }

  /**
   * Mean of one channel.
   *
   * @param channel channel index, from 0 to {@code channels() - 1}
   * @return the channel's mean, in double (0 when empty)
   */
  public double mean(int channel) {
    return mean[channel];
  }

  /**
   * Sum of squared deviations from the mean of one channel: {@code variance * count}.
   *
   * @param channel channel index, from 0 to {@code channels() - 1}
   * @return the channel's M2, in double (0 when empty)
   */
  public double m2(int channel) {
    return m2[channel];
  }

  /**
   * Folds {@code other} into this (Chan's merge, double precision); returns this.
   *
   * @param other moments of another part of the batch, same channel count; not modified
   * @return this instance, now covering both parts
   */
  public Moments merge(Moments other) {
    Objects.requireNonNull(other, "other");
    if (other.channels != channels) {
      throw new IllegalArgumentException("other must have channels = " + channels + ", got " + other.channels);
    }
    if (other.count == 0) return this;
    if (count == 0) {
      count = other.count;
      System.arraycopy(other.mean, 0, mean, 0, channels);
      System.arraycopy(other.m2, 0, m2, 0, channels);
      return this;
    }
    double n = (double) count + other.count;
    double wB = other.count / n, wAB = (double) count * other.count / n;
    for (int c = 0; c < channels; c++) {
      double delta = other.mean[c] - mean[c];
      mean[c] += delta * wB;
      m2[c] += other.m2[c] + delta * delta * wAB;
    }
    count += other.count;
    return this;
  }

  /** Count back to 0, so the instance can be reused for the next batch. */
  public void reset() {
    count = 0;
    Arrays.fill(mean, 0);
    Arrays.fill(m2, 0);
  }

  /**
   * Per-channel means, rounded to float, into {@code out}.
   *
   * @param out destination, {@code float[channels]}
   */
  public void meanTo(float[] out) {
    Checks.perChannel("out", out, channels, false);
    for (int c = 0; c < channels; c++) out[c] = (float) mean[c];
  }

  /**
   * Biased variance {@code M2 / count} (what batch norm normalizes with), into {@code out}.
   *
   * @param out destination, {@code float[channels]}
   */
  public void varianceTo(float[] out) {
    Checks.perChannel("out", out, channels, false);
    requireCount(1);
    for (int c = 0; c < channels; c++) out[c] = (float) (m2[c] / count);
  }

  /**
   * Unbiased variance {@code M2 / (count - 1)}, into {@code out}; needs count >= 2.
   *
   * @param out destination, {@code float[channels]}
   */
  public void unbiasedVarianceTo(float[] out) {
    Checks.perChannel("out", out, channels, false);
    requireCount(2);
    for (int c = 0; c < channels; c++) out[c] = (float) (m2[c] / (count - 1));
  }

  /**
   * {@code 1 / sqrt(M2/count + epsilon)}, into {@code out}.
   *
   * @param epsilon added to the variance before the square root; finite and greater than 0
   * @param out destination, {@code float[channels]}
   */
  public void invStdTo(float epsilon, float[] out) {
    Checks.epsilon(epsilon);
    Checks.perChannel("out", out, channels, false);
    requireCount(1);
    for (int c = 0; c < channels; c++) out[c] = (float) (1.0 / Math.sqrt(m2[c] / count + epsilon));
  }

  private void requireCount(long atLeast) {
    if (count < atLeast) throw new IllegalStateException("moments cover " + count + " elements per channel; need at least " + atLeast);
  }

  /**
   * {@code [count, mean_0..mean_{C-1}, m2_0..m2_{C-1}]}, for an all-gather between replicas.
   *
   * @return a new array of length {@code 1 + 2 * channels()}
   */
  public double[] pack() {
    double[] packed = new double[1 + 2 * channels];
    packed[0] = count;
    System.arraycopy(mean, 0, packed, 1, channels);
    System.arraycopy(m2, 0, packed, 1 + channels, channels);
    return packed;
  }

  /**
   * Inverse of {@link #pack()}.
   *
   * @param packed the array {@link #pack()} returned (length {@code 1 + 2 * channels})
   * @return new moments equal to those packed
   */
  public static Moments unpack(double[] packed) {
    Objects.requireNonNull(packed, "packed");
    if (packed.length < 3 || packed.length % 2 == 0) {
      throw new IllegalArgumentException("packed must have length 1 + 2*channels (odd, >= 3), got " + packed.length);
    }
    int channels = (packed.length - 1) / 2;
    return of((long) packed[0], Arrays.copyOfRange(packed, 1, 1 + channels), Arrays.copyOfRange(packed, 1 + channels, packed.length));
  }

  @Override
  public String toString() {
    return "Moments[channels=" + channels + ", count=" + count + "]";
  }
}
