package dev.vecnorm.bench;

import java.lang.reflect.Field;
import sun.misc.Unsafe;

/**
 * Where a {@code float[]}'s data sits in memory, for probes only (dev tool: the library never asks). Reads the
 * array's compressed reference from an {@code Object[]} with {@link Unsafe} and decodes it with the narrow-oop
 * shift measured here (two back-to-back 64-byte arrays from one TLAB are 64 bytes apart) and a zero base (a
 * heap of 2 GB sits below 32 GB: `-Xlog:gc+heap+coops` prints "Zero based" or "32-bit"; with a heap-based
 * mode the absolute address is off by the base, which is page-aligned, so the offsets mod 64 still hold).
 * Needs {@code --sun-misc-unsafe-memory-access=allow} to run without a warning on JDK 25.
 */
final class Addresses {
  private Addresses() {}

  private static final Unsafe U = unsafe();
  private static final long OBJECTS = U.arrayBaseOffset(Object[].class);
  private static final long FLOATS = U.arrayBaseOffset(float[].class);
  private static final boolean COMPRESSED = U.arrayIndexScale(Object[].class) == 4;
  private static final Object[] HOLDER = new Object[1]; // reused: an allocation here would move the TLAB top that at() steers
  private static final int SHIFT = COMPRESSED ? shift() : 0;
  static Object sink;

  private static Unsafe unsafe() {
    try {
      Field f = Unsafe.class.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      return (Unsafe) f.get(null);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("sun.misc.Unsafe is not reachable", e);
    }
  }

  private static synchronized long raw(Object o) {
    HOLDER[0] = o;
    long r = COMPRESSED ? Integer.toUnsignedLong(U.getInt(HOLDER, OBJECTS)) : U.getLong(HOLDER, OBJECTS);
    HOLDER[0] = null;
    return r;
  }

  /** log2(64 / oop distance) of two consecutive 64-byte arrays; the most frequent of 9 tries (a TLAB refill can split a pair). */
  private static int shift() {
    int[] votes = new int[8];
    for (int t = 0; t < 9; t++) {
      long[] a = new long[6], b = new long[6]; // 16-byte header + 48 = 64 bytes: no padding at any alignment up to 64
      long d = raw(b) - raw(a);
      if (d > 0 && Long.bitCount(d) == 1 && 64 % d == 0) votes[Long.numberOfTrailingZeros(64 / d)]++;
    }
    int best = 0;
    for (int s = 1; s < votes.length; s++) if (votes[s] > votes[best]) best = s;
    return best;
  }

  /** The address of element 0 of {@code a} (zero-based decoding; see the class comment). */
  static long data(float[] a) {
    return (raw(a) << SHIFT) + FLOATS;
  }

  /** {@code a}'s element 0 mod 4096 bytes (mod 64 is its place in a cache line). */
  static int line(float[] a) {
    return (int) (data(a) & 4095);
  }

  /**
   * A new float[n] whose element 0 sits {@code mod} bytes past a multiple of {@code modulus} (a power of two, 64 for a
   * cache line, 4096 for a page): each miss allocates a filler that moves the TLAB top to the right place.
   */
  static float[] at(int n, int mod, int modulus) {
    for (int t = 0; t < 64; t++) {
      float[] a = new float[n];
      long data = data(a);
      if ((data & (modulus - 1)) == mod) return a;
      long next = data - FLOATS + ((FLOATS + 4L * n + 7) & ~7L); // where the next object starts in this TLAB
      long gap = Math.floorMod(mod - FLOATS - next, (long) modulus);
      while (gap < FLOATS) gap += modulus;
      sink = new float[(int) ((gap - FLOATS) / 4)]; // FLOATS + 4k bytes, a multiple of 8: exactly the gap
    }
    throw new IllegalStateException("no float[" + n + "] at " + mod + " mod " + modulus + " in 64 tries");
  }

  static String describe() {
    return "compressed oops " + COMPRESSED + ", shift " + SHIFT + ", float[] data at +" + FLOATS;
  }
}
