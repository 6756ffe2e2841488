package dev.vecnorm.dl4j;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The bridge from an ND4J {@link INDArray} to a {@link MemorySegment} over the same off-heap floats.
 *
 * <p>ND4J keeps array data off-heap. For a view (a row range, a TAD, a parameter slice of the flattened
 * parameter vector) {@code data()} is a buffer view whose {@code addressPointer()} already points at the
 * view's first element; {@code data().address()} is the address of the underlying allocation and is wrong
 * for views. Only c-order arrays with the default strides for their shape are one dense block; anything
 * else (f-order, a column slice, broadcast strides) has no single segment and gets {@code null}, so the
 * caller falls back or copies.
 */
public final class NdSegments {

  private NdSegments() {}

  /**
   * A segment of {@code 4 * a.length()} bytes at the first element of {@code a}, or {@code null} when
   * {@code a} is not float32, empty, or not a dense c-order block. The segment has global scope: it is
   * valid as long as ND4J keeps the buffer, which the caller guarantees by holding {@code a}.
   */
  public static MemorySegment denseFloats(INDArray a) {
    if (a == null || a.dataType() != DataType.FLOAT || a.isEmpty() || !isDenseC(a)) return null;
    long address = a.data().addressPointer().address();
    if (address == 0) return null; // no host buffer (not allocated on this device)
    return MemorySegment.ofAddress(address).reinterpret(a.length() * Float.BYTES);
  }

  /**
   * True when {@code a}'s strides are the c-order strides of its shape, ignoring dimensions of size 1
   * (their stride never moves). This is what memory looks like, whatever the ordering flag says: a
   * {@code [1, C]} 'f' array is dense, an {@code [N, C]} 'f' array is not.
   */
  static boolean isDenseC(INDArray a) {
    long[] shape = a.shape();
    long[] stride = a.stride();
    long expected = 1;
    for (int i = shape.length - 1; i >= 0; i--) {
      if (shape[i] == 1) continue;
      if (stride[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }

  /** Copies {@code a} (any order, any strides, length {@code out.length}) into {@code out}; no allocation when dense. */
  static float[] toFloats(INDArray a, float[] out) {
    MemorySegment s = denseFloats(a);
    if (s != null) {
      MemorySegment.copy(s, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, out, 0, out.length);
    } else {
      float[] copy = a.castTo(DataType.FLOAT).dup('c').toFloatVector();
      System.arraycopy(copy, 0, out, 0, out.length);
    }
    return out;
  }

  /** Writes {@code values} into {@code a} (a per-channel view such as DL4J's gradient views), in place. */
  static void write(float[] values, INDArray a) {
    MemorySegment s = denseFloats(a);
    if (s != null) {
      MemorySegment.copy(values, 0, s, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, values.length);
    } else {
      a.assign(org.nd4j.linalg.factory.Nd4j.createFromArray(values).reshape(a.shape()));
    }
  }
}
