package dev.vecnorm;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Argument checks for the public facade: every message names the argument and what was expected.
 * They run before an operation writes anything, so a rejected call leaves every output as it was.
 * They allocate nothing for {@code float[]} tensors and native segments (the layer API calls them per
 * batch); the overlap check of two heap segments makes a few slices.
 */
final class Checks {
  private Checks() {}

  static void shape(NormShape shape) {
    Objects.requireNonNull(shape, "shape");
  }

  /** A float[] tensor of {@code shape.size()} elements starting at {@code offset}. */
  static void tensor(String name, float[] a, int offset, NormShape shape) {
    Objects.requireNonNull(a, name);
    long size = shape.size();
    if (size > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("shape " + shape + " has " + size + " elements, more than a float[] can hold; use the MemorySegment entry points");
    }
    if (offset < 0) throw new IllegalArgumentException(name + "Offset must be >= 0, got " + offset);
    if (offset + size > a.length) {
      throw new IllegalArgumentException(name + " must hold " + name + "Offset + shape.size() = " + offset + " + " + size
          + " = " + (offset + size) + " floats for shape " + shape + ", but has length " + a.length);
    }
  }

  /**
   * A little-endian float32 tensor of {@code shape.size()} elements at byte {@code offset}, usable from
   * this thread now: its arena is open and, for a confined arena, owned by the calling thread (else the
   * first access would throw {@code WrongThreadException} halfway through the call).
   */
  static void tensor(String name, MemorySegment s, long offset, NormShape shape, boolean written) {
    Objects.requireNonNull(s, name);
    long bytes = byteSize(shape);
    if (offset < 0) throw new IllegalArgumentException(name + "Offset must be >= 0 bytes, got " + offset);
    if (offset > s.byteSize() || bytes > s.byteSize() - offset) {
      throw new IllegalArgumentException(name + " must hold " + name + "Offset + 4*shape.size() = " + offset + " + " + bytes
          + " bytes for shape " + shape + ", but has byteSize " + s.byteSize());
    }
    if (!s.scope().isAlive()) throw new IllegalArgumentException(name + " belongs to a closed arena");
    if (!s.isAccessibleBy(Thread.currentThread())) {
      throw new IllegalArgumentException(name + " is confined to another thread than the calling thread (" + Thread.currentThread().getName()
          + "); call from the thread that owns its arena, or allocate it from a shared arena");
    }
    if (written && s.isReadOnly()) throw new IllegalArgumentException(name + " is read-only but is written to");
  }

  /** {@code 4 * shape.size()}; {@link NormShape} guarantees it fits a long, this keeps it so if that ever changes. */
  static long byteSize(NormShape shape) {
    try {
      return Math.multiplyExact(shape.size(), (long) Float.BYTES);
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("shape " + shape + " has more than Long.MAX_VALUE bytes of float32", e);
    }
  }

  /**
   * An output may be the very same memory as an input (in place), but not shifted against it: kernels
   * read and write in blocks, so a partial overlap would read values already overwritten. Compared by
   * address range, so two segment objects over the same memory (read-only views, slices, byte[] and
   * float[] views, native segments rebuilt from an address) count as the same memory.
   */
  static void noPartialOverlap(String outName, MemorySegment out, long outOffset, String inName, MemorySegment in,
                               long inOffset, NormShape shape) {
    long bytes = byteSize(shape), shared = sharedBytes(out, outOffset, in, inOffset, bytes);
    if (shared != 0 && shared != bytes) { // equal lengths: sharing all bytes means starting at the same address
      throw new IllegalArgumentException(outName + " overlaps " + inName + " at a different offset; pass the same memory and offset "
          + "for in-place use, or disjoint memory");
    }
  }

  /** The segment form of {@link #disjoint(String, float[], long, long, String, float[], long, long)}: no shared byte at all. */
  static void disjoint(String outName, MemorySegment out, long outOffset, String otherName, MemorySegment other, long otherOffset,
                       NormShape shape) {
    if (sharedBytes(out, outOffset, other, otherOffset, byteSize(shape)) != 0) {
      throw new IllegalArgumentException(outName + " overlaps " + otherName + "; this operation cannot run in place on them: "
          + "pass disjoint memory");
    }
  }

  /** How many bytes {@code [aOffset, +bytes)} of {@code a} and {@code [bOffset, +bytes)} of {@code b} share. */
  private static long sharedBytes(MemorySegment a, long aOffset, MemorySegment b, long bOffset, long bytes) {
    if (a.isNative() && b.isNative()) { // absolute addresses: compare them, allocation-free
      long from = a.address() + aOffset, to = b.address() + bOffset;
      return Math.max(0, Math.min(from, to) + bytes - Math.max(from, to));
    }
    if (a.isNative() || b.isNative()) return 0; // heap and native memory never overlap
    // Heap: heapBase() hides the array of a read-only view; the slices' own comparison does not.
    return a.asSlice(aOffset, bytes).asOverlappingSlice(b.asSlice(bOffset, bytes)).map(MemorySegment::byteSize).orElse(0L);
  }

  static void noPartialOverlap(String outName, float[] out, int outOffset, String inName, float[] in, int inOffset,
                               NormShape shape) {
    long size = shape.size();
    if (out == in && outOffset != inOffset && outOffset < inOffset + size && inOffset < outOffset + size) {
      throw new IllegalArgumentException(outName + " overlaps " + inName + " at a different offset; pass the same array and offset "
          + "for in-place use, or disjoint memory");
    }
  }

  /**
   * No overlap at all, not even in place: for outputs written before the other argument is read
   * (dResidual before x), and for conversions between layouts, which move every element.
   */
  static void disjoint(String outName, float[] out, long outOffset, long outSize, String otherName, float[] other,
                       long otherOffset, long otherSize) {
    if (out != null && out == other && outOffset < otherOffset + otherSize && otherOffset < outOffset + outSize) {
      throw new IllegalArgumentException(outName + " overlaps " + otherName + " (elements [" + outOffset + ", " + (outOffset + outSize)
          + ") and [" + otherOffset + ", " + (otherOffset + otherSize) + ") of the same array); this operation cannot run in place: "
          + "pass disjoint memory");
    }
  }

  /** A per-channel array: exactly {@code channels} floats; null allowed only when optional. */
  static void perChannel(String name, float[] a, int channels, boolean optional) {
    if (a == null) {
      if (optional) return;
      throw new NullPointerException(name);
    }
    if (a.length != channels) {
      throw new IllegalArgumentException(name + " must have length channels = " + channels + ", got " + a.length);
    }
  }

  /**
   * {@code out} (a per-channel output) must not be the array {@code other}: an input still read after
   * {@code out} is written, another output, or a tensor. Null means an absent optional argument.
   */
  static void distinct(String outName, float[] out, String otherName, float[] other) {
    if (out != null && out == other) {
      throw new IllegalArgumentException(outName + " and " + otherName + " must be different arrays (" + outName
          + " is written while " + otherName + " is in use)");
    }
  }

  /** Per-channel outputs {@code a}, {@code b}, {@code c} (null: absent) are pairwise different arrays. */
  static void distinctOutputs(String aName, float[] a, String bName, float[] b, String cName, float[] c) {
    distinct(aName, a, bName, b);
    distinct(aName, a, cName, c);
    distinct(bName, b, cName, c);
  }

  /** A per-channel output is none of up to three per-channel inputs (null: absent), which it would overwrite while they are read. */
  static void notAnInput(String outName, float[] out, String aName, float[] a, String bName, float[] b, String cName, float[] c) {
    distinct(outName, out, aName, a);
    distinct(outName, out, bName, b);
    distinct(outName, out, cName, c);
  }

  static void epsilon(float epsilon) {
    if (!(epsilon > 0) || Float.isInfinite(epsilon)) {
      throw new IllegalArgumentException("epsilon must be finite and > 0, got " + epsilon);
    }
  }

  static void momentum(float momentum) {
    if (!(momentum >= 0 && momentum <= 1)) {
      throw new IllegalArgumentException("momentum must be in [0, 1], got " + momentum);
    }
  }

  static void count(String name, long count, long atLeast) {
    if (count < atLeast) throw new IllegalArgumentException(name + " must be >= " + atLeast + ", got " + count);
  }
}
