package dev.vecnorm;

import dev.vecnorm.internal.Scratch;
import dev.vecnorm.internal.VectorizationProvider;
import dev.vecnorm.internal.WeightNormSupport;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Weight normalization (Salimans and Kingma, 2016) of the columns of a row-major matrix
 * {@code v[rows, cols]}, as {@code tfa.layers.WeightNormalization} computes a Dense kernel (Keras's
 * kernel is {@code [in, units]}, so a column is one output unit and its norm runs over the input axis):
 * <pre>
 *   S[c]       = Σ_r v[r][c]²
 *   invNorm[c] = 1 / sqrt(max(S[c], 1e-12))          (tf.nn.l2_normalize's floor)
 *   w[r][c]    = g[c] * invNorm[c] * v[r][c]
 * </pre>
 * Backward, from {@code w = g v / n} with {@code n = |v|}: {@code ∂w/∂v = (g/n)(I - v vᵀ/n²)} and
 * {@code ∂w/∂g = v/n}, so with {@code D[c] = Σ_r dw[r][c] v[r][c]}
 * <pre>
 *   dg[c]    = invNorm[c] * D[c]
 *   dv[r][c] = g[c] invNorm[c] * dw[r][c]  -  g[c] invNorm[c]³ D[c] * v[r][c]
 * </pre>
 * where a column below the floor ({@code S < 1e-12}) has a constant norm and no second term, as
 * TensorFlow differentiates {@code max}. {@code g == null} means {@code g = 1} (plain normalization).
 *
 * <p>Each operation reads the matrix twice: a reduction pass (column sums, vectorized across columns
 * like the channels-last batch-norm statistics) and an elementwise pass with the per-column factors
 * folded first, so each element costs one multiply (forward) or one multiply and one FMA (backward).
 * A call allocates its per-column temporaries ({@code O(cols)}), nothing per element.
 *
 * <p>Argument checks as {@link BatchNorm}'s: everything is checked before anything is written and a bad
 * call throws {@link IllegalArgumentException} naming the argument and the expected shape (or
 * {@link NullPointerException} for a missing required argument). {@code w} may be {@code v} at the same
 * offset; {@code dv} may be {@code v} or {@code dw} at the same offset; any other overlap is rejected.
 */
public final class WeightNorm {

  /** TensorFlow's {@code tf.nn.l2_normalize} floor on the squared norm of a column. */
  public static final float NORM_FLOOR = 1e-12f;

  private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  /** Rows per staged block of a native segment: about 64 KiB. */
  private static final int STAGE_FLOATS = 16 * 1024;

  private WeightNorm() {}

  /**
   * Forward: {@code w = g * v / max(|v|, 1e-6)} per column; optionally the columns' plain norms.
   *
   * @param rows rows of the matrix (a Dense kernel's input size), at least 1
   * @param cols columns of the matrix (a Dense kernel's units), normalized separately, at least 1
   * @param v the direction: {@code rows * cols} floats, row-major, from element offset {@code vOffset}
   * @param vOffset element offset of {@code v}'s first float in the array, at least 0
   * @param g per-column scale, {@code float[cols]}; null means g = 1
   * @param w output: the normalized, scaled matrix, {@code rows * cols} floats from element offset {@code wOffset}; may be {@code v} at the same offset (in place)
   * @param wOffset element offset of {@code w}'s first float in the array, at least 0
   * @param norms output, may be null: per-column {@code sqrt(Σ_r v²)} (no floor: tfa's initial g), {@code float[cols]}
   * @throws IllegalArgumentException if a size, length, offset or alias is wrong (names the argument); nothing is written
   * @throws NullPointerException if {@code v} or {@code w} is null
   */
  public static void forward(int rows, int cols, float[] v, int vOffset, float[] g, float[] w, int wOffset, float[] norms) {
    forward(VectorizationProvider.weightNorm(), rows, cols, v, vOffset, g, w, wOffset, norms);
  }

  /**
   * {@link #forward(int, int, float[], int, float[], float[], int, float[])} on segments; offsets in bytes.
   *
   * @param rows rows of the matrix (a Dense kernel's input size), at least 1
   * @param cols columns of the matrix (a Dense kernel's units), normalized separately, at least 1
   * @param v the direction: little-endian float32 segment holding {@code rows * cols} floats, row-major, from byte offset {@code vOffset}
   * @param vOffset byte offset of {@code v}'s first element in the segment, at least 0
   * @param g per-column scale, {@code float[cols]}; null means g = 1
   * @param w output: little-endian float32 segment of {@code rows * cols} floats from byte offset {@code wOffset}; may be {@code v} at the same offset (in place)
   * @param wOffset byte offset of {@code w}'s first element in the segment, at least 0
   * @param norms output, may be null: per-column {@code sqrt(Σ_r v²)}, {@code float[cols]}
   * @throws IllegalArgumentException if a size, length, offset or alias is wrong, a segment is out of bounds, an
   *     output segment is read-only, or a segment's arena is closed or confined to another thread; nothing is written
   * @throws NullPointerException if {@code v} or {@code w} is null
   */
  public static void forward(int rows, int cols, MemorySegment v, long vOffset, float[] g, MemorySegment w, long wOffset, float[] norms) {
    forward(VectorizationProvider.weightNorm(), rows, cols, v, vOffset, g, w, wOffset, norms);
  }

  /**
   * Backward: {@code dv} and {@code dg} from the gradient {@code dw} of the loss with respect to {@code w}
   * (see the class comment); {@code g} is the forward's.
   *
   * @param rows rows of the matrix, at least 1
   * @param cols columns of the matrix, at least 1
   * @param v the forward's direction: {@code rows * cols} floats from element offset {@code vOffset}
   * @param vOffset element offset of {@code v}'s first float in the array, at least 0
   * @param dw gradient with respect to {@code w}: {@code rows * cols} floats from element offset {@code dwOffset}
   * @param dwOffset element offset of {@code dw}'s first float in the array, at least 0
   * @param g the forward's per-column scale, {@code float[cols]}; null means g = 1
   * @param dv output: gradient with respect to {@code v}, {@code rows * cols} floats from element offset {@code dvOffset}; may be {@code v} or {@code dw} at the same offset
   * @param dvOffset element offset of {@code dv}'s first float in the array, at least 0
   * @param dg output, may be null: gradient with respect to {@code g}, {@code float[cols]}, overwritten
   * @throws IllegalArgumentException if a size, length, offset or alias is wrong (names the argument); nothing is written
   * @throws NullPointerException if {@code v}, {@code dw} or {@code dv} is null
   */
  public static void backward(int rows, int cols, float[] v, int vOffset, float[] dw, int dwOffset, float[] g, float[] dv, int dvOffset,
                              float[] dg) {
    backward(VectorizationProvider.weightNorm(), rows, cols, v, vOffset, dw, dwOffset, g, dv, dvOffset, dg);
  }

  /**
   * {@link #backward(int, int, float[], int, float[], int, float[], float[], int, float[])} on segments; offsets in bytes.
   *
   * @param rows rows of the matrix, at least 1
   * @param cols columns of the matrix, at least 1
   * @param v the forward's direction: little-endian float32 segment of {@code rows * cols} floats from byte offset {@code vOffset}
   * @param vOffset byte offset of {@code v}'s first element in the segment, at least 0
   * @param dw gradient with respect to {@code w}: little-endian float32 segment of {@code rows * cols} floats from byte offset {@code dwOffset}
   * @param dwOffset byte offset of {@code dw}'s first element in the segment, at least 0
   * @param g the forward's per-column scale, {@code float[cols]}; null means g = 1
   * @param dv output: little-endian float32 segment of {@code rows * cols} floats from byte offset {@code dvOffset}; may be {@code v} or {@code dw} at the same offset
   * @param dvOffset byte offset of {@code dv}'s first element in the segment, at least 0
   * @param dg output, may be null: gradient with respect to {@code g}, {@code float[cols]}, overwritten
   * @throws IllegalArgumentException if a size, length, offset or alias is wrong, a segment is out of bounds, an
   *     output segment is read-only, or a segment's arena is closed or confined to another thread; nothing is written
   * @throws NullPointerException if {@code v}, {@code dw} or {@code dv} is null
   */
  public static void backward(int rows, int cols, MemorySegment v, long vOffset, MemorySegment dw, long dwOffset, float[] g,
                              MemorySegment dv, long dvOffset, float[] dg) {
    backward(VectorizationProvider.weightNorm(), rows, cols, v, vOffset, dw, dwOffset, g, dv, dvOffset, dg);
  }

  // ---------------------------------------------------------------- per implementation (tests run both)

  static void forward(WeightNormSupport impl, int rows, int cols, float[] v, int vOffset, float[] g, float[] w, int wOffset, float[] norms) {
    NormShape s = shape(rows, cols);
    Checks.tensor("v", v, vOffset, s);
    Checks.tensor("w", w, wOffset, s);
    Checks.noPartialOverlap("w", w, wOffset, "v", v, vOffset, s);
    checkForward(cols, g, norms);
    float[] scale = zeroed(cols);
    try {
      impl.addColumnSquares(v, vOffset, rows, cols, scale);
      forwardScale(scale, cols, g, norms);
      impl.combineColumns(v, vOffset, scale, null, 0, null, rows, cols, w, wOffset);
    } finally {
      Scratch.release(scale);
    }
  }

  static void forward(WeightNormSupport impl, int rows, int cols, MemorySegment v, long vOffset, float[] g, MemorySegment w, long wOffset,
                      float[] norms) {
    NormShape s = shape(rows, cols);
    Checks.tensor("v", v, vOffset, s, false);
    Checks.tensor("w", w, wOffset, s, true);
    Checks.noPartialOverlap("w", w, wOffset, "v", v, vOffset, s);
    checkForward(cols, g, norms);
    float[] va = Staging.backingArray(v, vOffset), wa = Staging.backingArray(w, wOffset);
    if (va != null && wa != null) {
      forward(impl, rows, cols, va, Staging.elementOffset(v, vOffset), g, wa, Staging.elementOffset(w, wOffset), norms);
      return;
    }
    int block = blockRows(rows, cols);
    float[] scale = zeroed(cols), vs = Scratch.borrow(block * cols);
    try {
      for (int r = 0; r < rows; r += block) {
        int n = Math.min(block, rows - r);
        MemorySegment.copy(v, LE_FLOAT, vOffset + (long) r * cols * Float.BYTES, vs, 0, n * cols);
        impl.addColumnSquares(vs, 0, n, cols, scale);
      }
      forwardScale(scale, cols, g, norms);
      // Second pass: every block of v is read in before its block of w is written, so in place is safe.
      for (int r = 0; r < rows; r += block) {
        int n = Math.min(block, rows - r);
        long bytes = (long) r * cols * Float.BYTES;
        MemorySegment.copy(v, LE_FLOAT, vOffset + bytes, vs, 0, n * cols);
        impl.combineColumns(vs, 0, scale, null, 0, null, n, cols, vs, 0);
        MemorySegment.copy(vs, 0, w, LE_FLOAT, wOffset + bytes, n * cols);
      }
    } finally {
      Scratch.release(vs);
      Scratch.release(scale);
    }
  }

  static void backward(WeightNormSupport impl, int rows, int cols, float[] v, int vOffset, float[] dw, int dwOffset, float[] g, float[] dv,
                       int dvOffset, float[] dg) {
    NormShape s = shape(rows, cols);
    Checks.tensor("v", v, vOffset, s);
    Checks.tensor("dw", dw, dwOffset, s);
    Checks.tensor("dv", dv, dvOffset, s);
    Checks.noPartialOverlap("dv", dv, dvOffset, "v", v, vOffset, s);
    Checks.noPartialOverlap("dv", dv, dvOffset, "dw", dw, dwOffset, s);
    checkBackward(cols, g, dg);
    float[] a = zeroed(cols), b = zeroed(cols);
    try {
      impl.addColumnSquaresAndDots(v, vOffset, dw, dwOffset, rows, cols, a, b);
      backwardCoefficients(a, b, cols, g, dg);
      impl.combineColumns(dw, dwOffset, a, v, vOffset, b, rows, cols, dv, dvOffset);
    } finally {
      Scratch.release(b);
      Scratch.release(a);
    }
  }

  static void backward(WeightNormSupport impl, int rows, int cols, MemorySegment v, long vOffset, MemorySegment dw, long dwOffset, float[] g,
                       MemorySegment dv, long dvOffset, float[] dg) {
    NormShape s = shape(rows, cols);
    Checks.tensor("v", v, vOffset, s, false);
    Checks.tensor("dw", dw, dwOffset, s, false);
    Checks.tensor("dv", dv, dvOffset, s, true);
    Checks.noPartialOverlap("dv", dv, dvOffset, "v", v, vOffset, s);
    Checks.noPartialOverlap("dv", dv, dvOffset, "dw", dw, dwOffset, s);
    checkBackward(cols, g, dg);
    float[] va = Staging.backingArray(v, vOffset), ga = Staging.backingArray(dw, dwOffset), da = Staging.backingArray(dv, dvOffset);
    if (va != null && ga != null && da != null) {
      backward(impl, rows, cols, va, Staging.elementOffset(v, vOffset), ga, Staging.elementOffset(dw, dwOffset), g, da,
          Staging.elementOffset(dv, dvOffset), dg);
      return;
    }
    int block = blockRows(rows, cols);
    float[] a = zeroed(cols), b = zeroed(cols), vs = Scratch.borrow(block * cols), gs = Scratch.borrow(block * cols);
    try {
      for (int r = 0; r < rows; r += block) {
        int n = Math.min(block, rows - r);
        long bytes = (long) r * cols * Float.BYTES;
        MemorySegment.copy(v, LE_FLOAT, vOffset + bytes, vs, 0, n * cols);
        MemorySegment.copy(dw, LE_FLOAT, dwOffset + bytes, gs, 0, n * cols);
        impl.addColumnSquaresAndDots(vs, 0, gs, 0, n, cols, a, b);
      }
      backwardCoefficients(a, b, cols, g, dg);
      for (int r = 0; r < rows; r += block) {
        int n = Math.min(block, rows - r);
        long bytes = (long) r * cols * Float.BYTES;
        MemorySegment.copy(v, LE_FLOAT, vOffset + bytes, vs, 0, n * cols);
        MemorySegment.copy(dw, LE_FLOAT, dwOffset + bytes, gs, 0, n * cols);
        impl.combineColumns(gs, 0, a, vs, 0, b, n, cols, gs, 0);
        MemorySegment.copy(gs, 0, dv, LE_FLOAT, dvOffset + bytes, n * cols);
      }
    } finally {
      Scratch.release(gs);
      Scratch.release(vs);
      Scratch.release(b);
      Scratch.release(a);
    }
  }

  /** Column sums of squares in {@code t} become {@code g * invNorm}; {@code norms} gets the unfloored norms. */
  private static void forwardScale(float[] t, int cols, float[] g, float[] norms) {
    for (int c = 0; c < cols; c++) {
      double sq = t[c];
      if (norms != null) norms[c] = (float) Math.sqrt(sq);
      t[c] = (float) ((g == null ? 1.0 : g[c]) / Math.sqrt(Math.max(sq, NORM_FLOOR)));
    }
  }

  /**
   * Column sums of squares in {@code a} and dots {@code Σ dw·v} in {@code b} become the factors of
   * {@code dv = a * dw + b * v}: {@code a = g u}, {@code b = -g u³ D} (0 below the floor), {@code u = invNorm}.
   */
  private static void backwardCoefficients(float[] a, float[] b, int cols, float[] g, float[] dg) {
    for (int c = 0; c < cols; c++) {
      double sq = a[c], dot = b[c], u = 1 / Math.sqrt(Math.max(sq, NORM_FLOOR)), gc = g == null ? 1.0 : g[c];
      if (dg != null) dg[c] = (float) (u * dot);
      a[c] = (float) (gc * u);
      b[c] = sq >= NORM_FLOOR ? (float) (-gc * u * u * u * dot) : 0f;
    }
  }

  /**
   * Pooled scratch (give it back with {@link Scratch#release}) whose first {@code n} floats are zero: the column
   * sums add into it. A new array per call was 2 x 520 B a call at 130 units, and 64 KiB a call for the
   * native path's stage, every call of a training loop (KernelMixAllocationTest).
   */
  private static float[] zeroed(int n) {
    float[] a = Scratch.borrow(n);
    java.util.Arrays.fill(a, 0, n, 0f);
    return a;
  }

  private static NormShape shape(int rows, int cols) {
    if (rows < 1) throw new IllegalArgumentException("rows must be >= 1, got " + rows);
    if (cols < 1) throw new IllegalArgumentException("cols must be >= 1, got " + cols);
    // LayerNorm's cache of the last shape: a new NormShape a call (24 B) escaped here as it did there (60791ca).
    return LayerNorm.shape(rows, cols); // rejects rows * cols overflowing a long
  }

  private static void checkForward(int cols, float[] g, float[] norms) {
    perColumn("g", g, cols);
    perColumn("norms", norms, cols);
    Checks.distinct("norms", norms, "g", g);
  }

  private static void checkBackward(int cols, float[] g, float[] dg) {
    perColumn("g", g, cols);
    perColumn("dg", dg, cols);
    Checks.distinct("dg", dg, "g", g);
  }

  /** An optional per-column array: null, or exactly {@code cols} floats. */
  private static void perColumn(String name, float[] a, int cols) {
    if (a != null && a.length != cols) throw new IllegalArgumentException(name + " must have length cols = " + cols + ", got " + a.length);
  }

  private static int blockRows(int rows, int cols) {
    return Math.max(1, Math.min(rows, STAGE_FLOATS / cols));
  }
}
