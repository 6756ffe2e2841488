package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The channels-last backward reduce of super rows narrower than 1024 floats takes one of three walks over its four-row
 * steps: line-aligned four rows side by side, pairs of rows, or (calls of 2 Mi floats and more, twenty-eighth session)
 * one row after the other. All must give the bits of one fixed order of operations per super-row position:
 * {@code sumDy += (g0 + g1) + (g2 + g3)} and four FMAs in row order a step, the rows past the last whole step one at a
 * time, then each channel's positions added in position order and the FMA sum scaled by invStd. This test computes that
 * order in scalar Java (vector lanes are independent, so the same float operations per element give the same bits) and
 * holds the {@code float[]} kernel (two offsets) and the native body to it, on calls on both sides of the 2 Mi-float
 * threshold, with whole and partial steps and a partial super row at the end; the fused BN+ReLU backward's reduce to the
 * same order; and group norm's channels-last backward (which picks the walk by the whole tensor) to its per-sample calls.
 */
class RowOrderReduceTest {

  static final int LANES = FloatVector.SPECIES_PREFERRED.length();

  static Stream<NormShape> shapes() {
    return Stream.of(
        NormShape.channelsLast(8192, 256), // 2 Mi floats exactly: rows in order from here
        NormShape.channelsLast(32768 + 3, 64), // a partial four-row step of super rows (256 floats) at the end
        NormShape.channelsLast(43691, 48), // 2 Mi + 16 floats; super rows of 384 at 16 lanes, a partial one at the end
        NormShape.channelsLast(123362, 17), // ragged channels (super rows of 17 * LANES), a part super row at the end
        NormShape.channelsLast(130001, 17), // the same past 2 Mi floats of whole super rows (the fused reduce's threshold)
        NormShape.channelsLast(70001, 32), // 2.24 Mi floats, super rows of 256 and a row past them
        NormShape.channelsLast(8191, 256), // just under the threshold: four rows side by side (or pairs)
        NormShape.channelsLast(997, 100)); // a small call
  }

  @ParameterizedTest
  @MethodSource("shapes")
  void everyWalkGivesTheFixedOrdersBits(NormShape s) {
    int n = (int) s.size(), c = s.channels();
    NativeBackwardTest.Data d = NativeBackwardTest.Data.of(s, 13L * n + c);
    float[] wantDy = new float[c], wantDyXhat = new float[c];
    fixedOrder(d.x(), d.dy(), n, c, d.mean(), d.invStd(), wantDy, wantDyXhat);
    Kernels k = new Kernels(NativeBackwardTest.panama());
    for (int offset : new int[] {0, 3}) {
      float[] x = new float[offset + n], dy = new float[offset + n];
      System.arraycopy(d.x(), 0, x, offset, n);
      System.arraycopy(d.dy(), 0, dy, offset, n);
      float[] sumDy = new float[c], sumDyXhat = new float[c];
      k.backwardReduce(s, x, offset, dy, offset, d.mean(), d.invStd(), sumDy, sumDyXhat);
      assertArrayEquals(wantDy, sumDy, "float[] sumDy, offset " + offset + ", " + s);
      assertArrayEquals(wantDyXhat, sumDyXhat, "float[] sumDyXhat, offset " + offset + ", " + s);
    }
    try (Arena arena = Arena.ofConfined()) {
      for (long offset : new long[] {64, 4}) {
        MemorySegment x = NativeBackwardTest.hold(arena, d.x(), offset), dy = NativeBackwardTest.hold(arena, d.dy(), offset + 8);
        float[] sumDy = new float[c], sumDyXhat = new float[c];
        k.backwardReduce(s, x, offset, dy, offset + 8, d.mean(), d.invStd(), sumDy, sumDyXhat);
        assertArrayEquals(wantDy, sumDy, "native sumDy, offset " + offset + ", " + s);
        assertArrayEquals(wantDyXhat, sumDyXhat, "native sumDyXhat, offset " + offset + ", " + s);
      }
    }
  }

  /**
   * The fused BN+ReLU backward's reduce (its dBeta and dGamma are the sums) walks its super rows the same three ways: the
   * fixed order on {@code g = y > 0 ? dy : 0}, the rows past the whole super rows added channel by channel.
   */
  @ParameterizedTest
  @MethodSource("shapes")
  void fusedReluReduceGivesTheFixedOrdersBits(NormShape s) {
    int n = (int) s.size(), c = s.channels();
    NativeBackwardTest.Data d = NativeBackwardTest.Data.of(s, 17L * n + c);
    float[] y = new float[n], masked = new float[n];
    java.util.SplittableRandom r = new java.util.SplittableRandom(n);
    for (int i = 0; i < n; i++) {
      y[i] = r.nextInt(3) == 0 ? 0f : (float) r.nextDouble();
      masked[i] = y[i] > 0 ? d.dy()[i] : 0f;
    }
    int width = superWidth(c);
    int superFloats = width == c && c <= 16 * LANES ? 0 : n / width * width; // the row loop for rows of up to 16 vectors
    float[] wantDy = new float[c], wantDyXhat = new float[c];
    fixedOrder(d.x(), masked, superFloats, c, d.mean(), null, wantDy, wantDyXhat); // sums, not yet scaled
    for (int i = superFloats; i < n; i++) { // the rows after the super rows, channel by channel
      int ch = i % c;
      wantDy[ch] += masked[i];
      wantDyXhat[ch] = Math.fma(masked[i], d.x()[i] - d.mean()[ch], wantDyXhat[ch]);
    }
    for (int ch = 0; ch < c; ch++) wantDyXhat[ch] *= d.invStd()[ch];
    float[] dx = new float[n], dGamma = new float[c], dBeta = new float[c];
    BatchNormRelu.backward(s, d.x(), 0, y, 0, d.dy(), 0, d.gamma(), d.mean(), d.invStd(), dx, 0, null, 0, dGamma, dBeta);
    assertArrayEquals(wantDy, dBeta, "fused dBeta, " + s);
    assertArrayEquals(wantDyXhat, dGamma, "fused dGamma, " + s);
  }

  /**
   * Group norm's channels-last backward picks the walk of each sample's reduce by the whole tensor's size: a call of
   * two or three samples of under 2 Mi floats each (2 Mi or more in all) reads rows in order, a call per sample does not.
   * Both must give the same dx bits, and dGamma/dBeta must be the per-sample sums added in sample order, on
   * {@code float[]} and on native segments.
   */
  @ParameterizedTest
  @org.junit.jupiter.params.provider.CsvSource({"2, 16384, 64, 32", "3, 11000, 64, 8", "2, 20000, 60, 6"})
  void groupNormWholeCallSameBitsAsSampleCalls(int batch, int spatial, int channels, int groups) {
    GroupShape whole = GroupShape.nhwc(batch, spatial, channels, groups), one = GroupShape.nhwc(1, spatial, channels, groups);
    int n = (int) whole.size(), per = spatial * channels;
    java.util.SplittableRandom r = new java.util.SplittableRandom(n + groups);
    float[] x = new float[n], dy = new float[n], gamma = new float[channels];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (2 + r.nextGaussian());
      dy[i] = (float) r.nextGaussian();
    }
    for (int c = 0; c < channels; c++) gamma[c] = (float) (1 + 0.2 * r.nextGaussian());
    float[] mean = new float[whole.statistics()], invStd = new float[whole.statistics()];
    GroupNorm.forward(whole, x, 0, gamma, null, 1e-3f, new float[n], 0, mean, invStd);
    float[] dx = new float[n], dGamma = new float[channels], dBeta = new float[channels];
    GroupNorm.backward(whole, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
    float[] sampleDx = new float[n], sumGamma = new float[channels], sumBeta = new float[channels];
    for (int b = 0; b < batch; b++) {
      float[] m = java.util.Arrays.copyOfRange(mean, b * groups, (b + 1) * groups);
      float[] v = java.util.Arrays.copyOfRange(invStd, b * groups, (b + 1) * groups);
      float[] dg = new float[channels], db = new float[channels];
      GroupNorm.backward(one, x, b * per, dy, b * per, gamma, m, v, sampleDx, b * per, dg, db);
      for (int c = 0; c < channels; c++) {
        sumGamma[c] += dg[c];
        sumBeta[c] += db[c];
      }
    }
    assertArrayEquals(sampleDx, dx, "float[] dx");
    assertArrayEquals(sumGamma, dGamma, "float[] dGamma");
    assertArrayEquals(sumBeta, dBeta, "float[] dBeta");
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment sx = NativeBackwardTest.hold(arena, x, 64), sdy = NativeBackwardTest.hold(arena, dy, 4);
      MemorySegment out = arena.allocate(4L * n + 64, 64);
      float[] segGamma = new float[channels], segBeta = new float[channels];
      GroupNorm.backward(whole, sx, 64, sdy, 4, gamma, mean, invStd, out, 0, segGamma, segBeta);
      assertArrayEquals(dx, SegmentTest.read(out, 0, n), "native dx");
      assertArrayEquals(dGamma, segGamma, "native dGamma");
      assertArrayEquals(dBeta, segBeta, "native dBeta");
    }
  }

  /** The kernels' super row: {@code lcm(channels, LANES)} floats, doubled up to at least {@code 16 * LANES}. */
  static int superWidth(int channels) {
    int a = channels, b = LANES;
    while (b != 0) {
      int t = a % b;
      a = b;
      b = t;
    }
    int width = channels / a * LANES;
    while (width < 16 * LANES) width *= 2;
    return width;
  }

  /** The reduce's order of operations, element by element in float (see the class comment). */
  static void fixedOrder(float[] x, float[] dy, int total, int channels, float[] mean, float[] invStd, float[] sumDy,
                         float[] sumDyXhat) {
    int width = superWidth(channels);
    float[] sum = new float[width], h = new float[width], m = new float[width];
    for (int p = 0; p < width; p++) m[p] = mean[p % channels];
    int i = 0;
    for (; i + 4 * width <= total; i += 4 * width) {
      for (int p = 0; p < width; p++) {
        int a = i + p;
        float g0 = dy[a], g1 = dy[a + width], g2 = dy[a + 2 * width], g3 = dy[a + 3 * width];
        sum[p] = sum[p] + ((g0 + g1) + (g2 + g3));
        float v = h[p];
        v = Math.fma(g0, x[a] - m[p], v);
        v = Math.fma(g1, x[a + width] - m[p], v);
        v = Math.fma(g2, x[a + 2 * width] - m[p], v);
        h[p] = Math.fma(g3, x[a + 3 * width] - m[p], v);
      }
    }
    for (; i < total; i++) { // the last super rows and the part one, a float at a time
      int p = i % width;
      sum[p] += dy[i];
      h[p] = Math.fma(dy[i], x[i] - m[p], h[p]);
    }
    for (int c = 0; c < channels; c++) {
      float g = 0, v = 0;
      for (int p = c; p < width; p += channels) {
        g += sum[p];
        v += h[p];
      }
      sumDy[c] = g;
      sumDyXhat[c] = invStd == null ? v : v * invStd[c];
    }
  }
}
