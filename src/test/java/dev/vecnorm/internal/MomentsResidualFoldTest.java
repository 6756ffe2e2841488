package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The channels-last moments fold ({@code PanamaBatchNormSupport.foldPositions}, and for short calls with one position
 * per channel the vector {@code foldOnePositionPerChannel}) against {@link #reference}, the channel-by-channel double
 * fold written out here: from a scratch of pivots, running means and M2 per position, and the rows that do not fill a
 * super row. Where each channel has one position, or the channels are at least the lanes, the kernel adds in the
 * reference's order and must give its bits; fewer channels than lanes add their positions in groups (another order,
 * in double) and must agree within a few float ulps. Pivots and running means far apart in magnitude (the double
 * sum of the two floats is then inexact, and the residual is that double expression's rounding, not the float sum's
 * exact error), signed zeros, and equal magnitudes of opposite sign.
 */
class MomentsResidualFoldTest {
  private static final int LANES = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();

  /** One position per channel: channels a multiple of the lanes (no tail), or any count (a tail call). */
  @ParameterizedTest
  @CsvSource({"0, 1", "16, 1", "256, 7", "1024, 128", "2048, 33", "17, 1", "1000, 2", "1023, 5", "100, 3"})
  void onePositionFoldsGiveTheReferenceBits(int channels, int rows) {
    assumeTrue(VectorizationProvider.panama().isPresent(), "no Panama implementation on this JVM");
    boolean tail = channels % LANES != 0;
    int C = tail ? channels : Math.max(LANES, channels), width = tail ? C - C % LANES : C, P = width + (tail ? LANES : 0);
    SplittableRandom random = new SplittableRandom(C * 31L + rows);
    for (int trial = 0; trial < 20; trial++) {
      float[] s = scratch(random, P, P);
      Out want = new Out(C);
      reference(new float[0], 0, rows, C, rows, 1, width, tail, P, s, want);
      Out got = new Out(C);
      assertTrue(PanamaBatchNormSupport.foldOnePositionPerChannel(s.clone(), C, P, width, rows, got.mean, got.residual, got.variance));
      assertBits(want, got, "vector fold");
      Out scalar = new Out(C);
      PanamaBatchNormSupport.foldPositions(new float[0], 0, rows, C, rows, 1, width, tail, P, s.clone(), scalar.mean,
          scalar.residual, scalar.variance);
      assertBits(want, scalar, "foldPositions");
      Out plain = new Out(C);
      assertTrue(PanamaBatchNormSupport.foldOnePositionPerChannel(s.clone(), C, P, width, rows, plain.mean, null, plain.variance));
      for (int c = 0; c < C; c++) {
        assertEquals(Float.floatToRawIntBits(got.mean[c]), Float.floatToRawIntBits(plain.mean[c]), "mean without residual, channel " + c);
        assertEquals(Float.floatToRawIntBits(got.variance[c]), Float.floatToRawIntBits(plain.variance[c]), "variance, channel " + c);
      }
    }
  }

  /** A non-finite mean or variance in any channel, the tail's included, makes the vector fold say so. */
  @ParameterizedTest
  @CsvSource({"32, 0", "32, 31", "17, 0", "17, 16", "1000, 999", "1000, 500"})
  void vectorFoldReportsNonFiniteChannels(int channels, int bad) {
    assumeTrue(VectorizationProvider.panama().isPresent(), "no Panama implementation on this JVM");
    boolean tail = channels % LANES != 0;
    int width = tail ? channels - channels % LANES : channels, P = width + (tail ? LANES : 0);
    int at = tail && bad >= width ? bad + width - (channels - LANES) : bad; // where the bad channel's position lies
    for (float value : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
      for (int slot : new int[] {0, 4, 5}) { // pivot0, running mean, M2
        float[] s = scratch(new SplittableRandom(7), P, P);
        s[slot * P + at] = slot == 5 && value < 0 ? Float.POSITIVE_INFINITY : value;
        Out got = new Out(channels);
        assertFalse(PanamaBatchNormSupport.foldOnePositionPerChannel(s, channels, P, width, 3, got.mean, got.residual, got.variance),
            value + " in slot " + slot + " at channel " + bad);
      }
    }
  }

  /**
   * Several positions per channel and rows left over: from the lanes on the reference's bits; fewer channels add each
   * channel's positions (and left-over elements) in groups, within 4 float ulps of the reference (both in double).
   */
  @ParameterizedTest
  @CsvSource({"1, 300", "1, 256", "3, 256", "3, 100", "5, 77", "7, 1000", "16, 40", "17, 40", "64, 32", "64, 5", "100, 16",
      "100, 3", "48, 50"})
  void multiPositionFoldMatchesTheReference(int channels, int rows) {
    assumeTrue(VectorizationProvider.panama().isPresent(), "no Panama implementation on this JVM");
    int width = PanamaBatchNormSupport.superWidth(channels);
    assumeTrue(width > 0, "a tail call: one position per channel");
    int rowsPerSuper = width / channels, superRows = rows / rowsPerSuper, P = width;
    SplittableRandom random = new SplittableRandom(channels * 131L + rows);
    for (int trial = 0; trial < 10; trial++) {
      float[] s = scratch(random, P, channels);
      float[] x = new float[rows * channels + 3];
      float offset = (float) (random.nextGaussian() * 1e4);
      for (int i = 0; i < x.length; i++) x[i] = offset + (float) random.nextGaussian();
      Out want = new Out(channels), got = new Out(channels);
      reference(x, 3, rows, channels, superRows, rowsPerSuper, width, false, P, s, want);
      PanamaBatchNormSupport.foldPositions(x, 3, rows, channels, superRows, rowsPerSuper, width, false, P, s.clone(), got.mean,
          got.residual, got.variance);
      if (channels >= LANES) {
        assertBits(want, got, "foldPositions");
      } else {
        for (int c = 0; c < channels; c++) {
          // mean + residual is the double mean to about 48 bits; the variance rounds once from double
          double wantMean = (double) want.mean[c] + want.residual[c], gotMean = (double) got.mean[c] + got.residual[c];
          assertEquals(wantMean, gotMean, Math.abs(wantMean) * 0x1p-44 + Double.MIN_NORMAL, "mean, channel " + c);
          assertEquals(want.variance[c], got.variance[c], 4 * Math.ulp(want.variance[c]), "variance, channel " + c);
        }
      }
    }
  }

  /** [pivot0 | . | . | . | running mean | M2], P floats each, the first {@code used} positions random. */
  private static float[] scratch(SplittableRandom random, int P, int used) {
    float[] s = new float[6 * P];
    for (int c = 0; c < P; c++) {
      double scale = Math.scalb(1.0, random.nextInt(-40, 41)); // pivot and running mean up to 2^80 apart
      s[c] = (float) (random.nextGaussian() * Math.scalb(1.0, random.nextInt(-20, 21)));
      s[4 * P + c] = switch (random.nextInt(6)) {
        case 0 -> -s[c];
        case 1 -> -0f;
        default -> (float) (random.nextGaussian() * scale);
      };
      s[5 * P + c] = (float) Math.abs(random.nextGaussian() * scale);
    }
    return s;
  }

  /**
   * The fold as the kernels did it channel by channel before the groups (sixteenth to twenty-ninth sessions): per
   * channel in double, its positions' means, then their M2 and squared deviations, then the left-over rows two-pass,
   * merged with Chan's formula.
   */
  static void reference(float[] x, int xOffset, int rows, int channels, int superRows, int rowsPerSuper, int width, boolean tail,
                        int P, float[] s, Out out) {
    int perChannel = tail ? 1 : width / channels, restFrom = superRows * rowsPerSuper;
    double perPosition = superRows, count = (double) superRows * perChannel, invPerChannel = 1.0 / perChannel, rest = rows - restFrom;
    for (int c = 0; c < channels; c++) {
      double m = 0, m2 = 0;
      if (superRows > 0) {
        int first = tail && c >= width ? width + c - (channels - LANES) : c, end = tail ? first + 1 : width;
        for (int pos = first; pos < end; pos += channels) m += (double) s[pos] + s[4 * P + pos];
        m *= invPerChannel;
        double spread = 0;
        for (int pos = first; pos < end; pos += channels) {
          double d = (double) s[pos] + s[4 * P + pos] - m;
          m2 += s[5 * P + pos];
          spread += d * d;
        }
        m2 += perPosition * spread;
      }
      if (rest > 0) {
        double sum = 0, sq = 0;
        for (int r = restFrom; r < rows; r++) sum += x[xOffset + r * channels + c];
        double restMean = sum / rest;
        for (int r = restFrom; r < rows; r++) {
          double d = x[xOffset + r * channels + c] - restMean;
          sq += d * d;
        }
        double total = count + rest, delta = restMean - m;
        m += delta * (rest / total);
        m2 += sq + delta * delta * (count * rest / total);
      }
      out.mean[c] = (float) m;
      out.residual[c] = (float) (m - out.mean[c]);
      out.variance[c] = (float) (m2 / rows);
    }
  }

  private static void assertBits(Out want, Out got, String what) {
    for (int c = 0; c < want.mean.length; c++) {
      assertEquals(Float.floatToRawIntBits(want.mean[c]), Float.floatToRawIntBits(got.mean[c]), what + ": mean, channel " + c);
      assertEquals(Float.floatToRawIntBits(want.residual[c]), Float.floatToRawIntBits(got.residual[c]), what + ": residual, channel " + c);
      assertEquals(Float.floatToRawIntBits(want.variance[c]), Float.floatToRawIntBits(got.variance[c]), what + ": variance, channel " + c);
    }
  }

  /** A fold's three per-channel outputs. */
  static final class Out {
    final float[] mean, residual, variance;

    Out(int channels) {
      mean = new float[channels];
      residual = new float[channels];
      variance = new float[channels];
    }
  }
}
