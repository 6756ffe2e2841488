package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The channels-last group-norm forward's two-pass redo ({@code PanamaGroupNormSupport.redoSums}, scalar Java, also
 * under the segment body) must give the bits of the vector {@code PanamaLayerNormSupport.blockSums} it replaced: the
 * same float operations per lane in the same order, the same lane-sum tree. Widths in vectors (pairs only, pairs and
 * one vector, one vector), with a scalar tail, and shorter than a vector; one run and strided runs (a group's
 * {@code cpg} channels in every pixel row); data 1e4 + N(0, 0.01) summed about its mean, and N(1.5, 2) with
 * outliers summed about a far shift. Then the whole statistics step: a block whose first element is 100 standard
 * deviations out takes the redo ({@code cancels}), and mean and invStd equal layer norm's statistics bit for bit.
 */
class GroupNormRedoTest {

  private static final int LANES = FloatVector.SPECIES_PREFERRED.length();

  @ParameterizedTest
  @CsvSource({
      "1, 64, 1", "1, 48, 1", "1, 16, 1", "49, 64, 2048", "49, 32, 96", "3, 37, 40", "5, 7, 7", "11, 1, 3", "13, 50, 50"})
  void scalarRedoGivesTheVectorBlockSumsBits(int runs, int widthInLanesOf16, int stride16) {
    assumeTrue(VectorizationProvider.panama().isPresent(), "no Panama implementation on this JVM");
    // Widths given for 16 lanes scale with the species, so each case keeps its mix of pairs, single vectors and tail.
    int width = Math.max(1, widthInLanesOf16 / 16 * LANES + widthInLanesOf16 % 16 % LANES);
    int stride = Math.max(width, stride16 * LANES / 16);
    int n = (runs - 1) * stride + width;
    SplittableRandom r = new SplittableRandom(runs * 1009L + width);
    float[] far = new float[n + 3], spread = new float[n + 3];
    for (int i = 0; i < far.length; i++) {
      far[i] = (float) (1e4 + 0.01 * r.nextGaussian());
      spread[i] = (float) (1.5 + 2 * r.nextGaussian()) + (i % 17 == 0 ? 300f : 0f);
    }
    for (int at : new int[] {0, 3}) {
      assertSameSums(far, at, runs, stride, width, 1e4f + 0.003f);
      assertSameSums(spread, at, runs, stride, width, -40f);
      assertSameSums(spread, at, runs, stride, width, 0f);
    }
  }

  private static void assertSameSums(float[] x, int at, int runs, int stride, int width, float shift) {
    long vector = PanamaLayerNormSupport.blockSums(x, at, runs, stride, width, shift);
    long scalar = PanamaGroupNormSupport.redoSums(x, at, runs, stride, width, shift);
    assertEquals(Float.intBitsToFloat((int) (vector >>> 32)), Float.intBitsToFloat((int) (scalar >>> 32)), 0f, "Σd");
    assertEquals(Float.intBitsToFloat((int) vector), Float.intBitsToFloat((int) scalar), 0f, "Σd²");
    assertEquals(vector, scalar, "packed bits (runs " + runs + ", width " + width + ", stride " + stride + ")");
  }

  @ParameterizedTest
  @CsvSource({"49, 64, 2048", "49, 32, 96", "9, 128, 512", "3, 40, 40"})
  void outlierGroupsTakeTheRedoWithLayerNormsStatistics(int runs, int width, int stride) {
    assumeTrue(VectorizationProvider.panama().isPresent(), "no Panama implementation on this JVM");
    int n = (runs - 1) * stride + width;
    SplittableRandom r = new SplittableRandom(n);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (float) (1e4 + 0.01 * r.nextGaussian());
    x[0] += 1f; // the block's first element 100 standard deviations out: summed about it, the block cancels
    long sums = PanamaLayerNormSupport.blockSums(x, 0, runs, stride, width, x[0]);
    assertTrue(PanamaLayerNormSupport.cancels(sums, 1.0 / ((double) runs * width)), "the redo runs");
    long expected = PanamaLayerNormSupport.statistics(x, 0, runs, stride, width, 1e-3f, sums);
    assertEquals(expected, PanamaGroupNormSupport.statistics(x, 0, runs, stride, width, 1e-3f, sums, false), "scalar redo: mean and invStd bits");
    assertEquals(expected, PanamaGroupNormSupport.statistics(x, 0, runs, stride, width, 1e-3f, sums, true), "vector redo: mean and invStd bits");
  }
}
