package dev.vecnorm;

import static dev.vecnorm.NormTesting.read;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vecnorm.internal.LayerNormSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The native LayerNorm forward at every float offset from a 64-byte line, as {@code LayerNormBenchmark.SegmentOffset}
 * times it: x and y at float offsets 0 .. lanes past a line + 4 bytes (x and y at the same offset, at different
 * ones, and in place), widths shorter than a vector, around one and two vectors, 256, 1000 (rows alternate
 * between two alignments at 16 lanes) and 1023, five rows. {@code NativeLayerNormTest} covers offsets 0, 4
 * and 70 bytes of a 4-byte-aligned allocation; a kernel that peeled rows to a line (tried: slower, and C2
 * boxed its vectors) would split each row differently at each of these offsets. The writes must equal the
 * {@code float[]} kernel's bit for bit (exact {@code assertArrayEquals}), mean and invStd too. Data N(0, 1),
 * so that the sums round (1e4 + small noise sums exactly and hides a changed order); NaN in row 1 and an
 * infinite first float in row 3, with rows 2 and 4 clean (their statistics are summed in the loop that
 * writes the row before). The floats just before and after y must stay untouched.
 */
class NativeLayerNormOffsetTest {

  static final int LANES = FloatVector.SPECIES_PREFERRED.length();
  static final float EPS = 1e-3f;

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    // The last two are wide rows, read at absolute offsets (PanamaNativeLayerNorm.WIDE).
    for (int features : new int[] {1, 3, LANES - 1, LANES, LANES + 1, 2 * LANES - 1, 2 * LANES + 3, 3 * LANES + 5, 256, 1000, 1023,
        2048 + LANES + 1, 4100}) {
      for (int at = 0; at <= LANES; at++) {
        out.add(Arguments.of(features, at, at)); // x and y at the same offset
        out.add(Arguments.of(features, (at + 5) % (LANES + 1), at)); // x elsewhere
      }
    }
    return out.stream();
  }

  @ParameterizedTest(name = "features={0} x at float {1}, y at float {2}")
  @MethodSource("cases")
  void everyOffsetGivesTheArrayBits(int features, int xAt, int yAt) {
    LayerNormSupport k = NativeLayerNormTest.panama();
    int rows = 5, n = rows * features; // rows 2 and 4 are clean: their statistics are summed in the loop that writes the row before
    float[] x = NativeLayerNormTest.data(rows, features, NativeLayerNormTest.Fill.PLAIN, 17L * features + xAt); // N(0, 1): sums that round
    x[features + features / 2] = Float.NaN; // row 1
    x[3 * features] = Float.POSITIVE_INFINITY; // row 3's first float: its shift
    float[] gamma = NativeLayerNormTest.param(features, 3, 1), beta = NativeLayerNormTest.param(features, 4, 0);
    float[] y = new float[n], mean = new float[rows], inv = new float[rows];
    k.forward(x, 0, y, 0, rows, features, gamma, beta, EPS, mean, inv, 0);

    try (Arena arena = Arena.ofConfined()) {
      // One float of guard before and after each tensor, at a known distance from a 64-byte line.
      MemorySegment xs = arena.allocate(4L * (n + LANES + 2), 64), ys = arena.allocate(4L * (n + LANES + 2), 64);
      long xo = 4L * xAt + 4, yo = 4L * yAt + 4;
      MemorySegment.copy(x, 0, xs, Staging.FLOAT_LE, xo, n);
      ys.fill((byte) 0x7f); // guards and y: 3.39e38, which no output here is
      float guard = ys.get(Staging.FLOAT_LE, 0);
      float[] m2 = new float[rows], i2 = new float[rows];
      k.forwardNative(xs, xo, ys, yo, rows, features, gamma, beta, EPS, m2, i2, 0);
      assertArrayEquals(y, read(ys, yo, n), "y");
      assertArrayEquals(mean, m2, "mean");
      assertArrayEquals(inv, i2, "invStd");
      assertEquals(guard, ys.get(Staging.FLOAT_LE, yo - 4), "the float before y");
      assertEquals(guard, ys.get(Staging.FLOAT_LE, yo + 4L * n), "the float after y");

      // In place at x's offset: each row is written while the next one's statistics are read.
      k.forwardNative(xs, xo, xs, xo, rows, features, gamma, beta, EPS, null, null, 0);
      assertArrayEquals(y, read(xs, xo, n), "y in place");
    }
  }
}
