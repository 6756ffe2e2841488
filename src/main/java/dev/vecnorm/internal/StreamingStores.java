package dev.vecnorm.internal;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Out-of-place normalize of a {@code float[]} tensor far larger than the caches, written through a pooled staging
 * array and one large copy per chunk, so that y is written with non-temporal (streaming) stores.
 *
 * <p>Why: an ordinary store to a line that is not cached first reads it (read-for-ownership), so out of place
 * the direct kernel moves 3 tensor-sized transfers (read x, read y, write y) where oneDNN's streaming stores move
 * 2. Java cannot issue a streaming store, but HotSpot's x86 disjoint arraycopy stub does where MaxVectorSize is 64
 * (AVX-512): a single copy of at least 2.5 MB ({@value #STREAMED_COPY_BYTES} bytes, {@code arraycopy_avx3_large}
 * in {@code stubGenerator_x86_64_arraycopy.cpp}) is stored in 256-byte blocks of non-temporal stores. Each chunk of
 * whole rows (channels-last) or whole samples (channels-first) of at least that size is normalized by the same
 * kernel into the staging array, then copied into y by one {@code MemorySegment.copy} (Unsafe.copyMemory, which
 * reaches that stub from interpreted callers too; an interpreted {@code System.arraycopy} copies in the runtime
 * without it). Same kernel on the same elements, so the same bits as the direct call.
 *
 * <p>When: {@code StreamingStoreProbe} (jmh module) measured the staged pass and the copy running one after the
 * other, where the direct kernel overlaps its reads and writes; staging paid on NHWC 128x56x56x64 inference
 * (98 MiB, beyond this VM's share of the L3: 1.19x), not at 49 MiB (0.9-1.06x) and lost on tensors that stay in
 * the cache (12 MiB: 0.56x, as the streamed y is evicted). Hence only tensors of at least
 * {@value #MIN_BYTES_PROPERTY} bytes (default 64 MiB), and only where the preferred float vector is 512 bits, which
 * tracks MaxVectorSize 64: on AVX2, or with {@code -XX:MaxVectorSize=32}, the stub copies with ordinary stores and
 * staging would only add a copy. {@code -D}{@value #PROPERTY}{@code =false} turns it off.
 */
public final class StreamingStores {
  /** {@code -Dvecnorm.streamingStores=false} keeps every out-of-place normalize on the direct path. */
  public static final String PROPERTY = "vecnorm.streamingStores";
  /** Smallest tensor, in bytes, whose normalize is staged (default 64 MiB). */
  public static final String MIN_BYTES_PROPERTY = "vecnorm.streamingStores.minBytes";
  /** HotSpot's disjoint arraycopy stub streams a single copy of at least this many bytes (large_threshold). */
  static final int STREAMED_COPY_BYTES = 2621440;
  /** A chunk (one channels-first sample) beyond this is not staged: its stage would spill past the L2 and L3 share measured. */
  static final int MAX_STAGE_BYTES = 4 << 20;

  private static final long DEFAULT_MIN_BYTES = Long.getLong(MIN_BYTES_PROPERTY, 64L << 20);
  private static final boolean AVAILABLE = !"false".equalsIgnoreCase(System.getProperty(PROPERTY)) && wideVectors();

  // Test hooks (setForTesting): small thresholds keep the bit-identity tests small, on any vector width.
  private static boolean enabled = AVAILABLE;
  private static long minBytes = DEFAULT_MIN_BYTES;
  private static int chunkBytes = STREAMED_COPY_BYTES;
  private static long stagedCalls; // calls that took the staged path, for the tests (racy across threads: a count, not a contract)

  /** A staging array and its heap segment, pooled together so a call allocates neither. */
  private static final class Stage {
    final float[] floats;
    final MemorySegment segment;

    Stage(int n) {
      floats = new float[n];
      segment = MemorySegment.ofArray(floats);
    }
  }

  private static final AtomicReferenceArray<Stage> FREE = new AtomicReferenceArray<>(Runtime.getRuntime().availableProcessors());

  private StreamingStores() {}

  private static boolean wideVectors() {
    if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) return false;
    try {
      return VectorWidth.preferredBits() == 512;
    } catch (LinkageError | RuntimeException e) {
      return false;
    }
  }

  /**
   * {@code impl.normalize} of a validated tensor through the staging array when it pays (see the class comment);
   * false, having written nothing, when the caller should run the direct kernel: off, too small, in place, or
   * chunks too large to stage.
   */
  public static boolean normalize(BatchNormSupport impl, float[] x, int xOffset, float[] y, int yOffset, int outer,
                                  int channels, int inner, float[] mean, float[] scale, boolean fromVariance, float epsilon,
                                  float[] gamma, float[] beta) {
    long unit = (long) channels * inner; // floats per row (channels-last) or per sample (channels-first)
    if (!enabled || 4 * unit * outer < minBytes || (x == y && xOffset == yOffset)) return false;
    int per = (int) Math.min(outer, (chunkBytes / 4 + unit - 1) / unit); // units per chunk: one copy reaches the streamed size
    long stageFloats = per * unit;
    if (4 * stageFloats > MAX_STAGE_BYTES) return false;
    stagedCalls++;
    Stage stage = borrow((int) stageFloats);
    try {
      MemorySegment ys = MemorySegment.ofArray(y);
      int u = 0;
      for (; u + per <= outer; u += per) {
        long at = u * unit;
        impl.normalize(x, (int) (xOffset + at), stage.floats, 0, per, channels, inner, mean, scale, fromVariance, epsilon, gamma, beta);
        MemorySegment.copy(stage.segment, 0, ys, 4 * (yOffset + at), 4 * stageFloats);
      }
      if (u < outer) { // the last rows or samples: shorter than a streamed copy, so written directly
        int at = (int) (u * unit);
        impl.normalize(x, xOffset + at, y, yOffset + at, outer - u, channels, inner, mean, scale, fromVariance, epsilon, gamma, beta);
      }
    } finally {
      release(stage);
    }
    return true;
  }

  private static Stage borrow(int floats) {
    for (int i = 0; i < FREE.length(); i++) {
      Stage s = FREE.get(i);
      if (s != null && s.floats.length >= floats && FREE.compareAndSet(i, s, null)) return s;
    }
    return new Stage(floats);
  }

  private static void release(Stage s) {
    for (int i = 0; i < FREE.length(); i++) {
      if (FREE.get(i) == null && FREE.compareAndSet(i, null, s)) return;
    }
    for (int i = 0; i < FREE.length(); i++) {
      Stage held = FREE.get(i);
      if (held != null && held.floats.length < s.floats.length && FREE.compareAndSet(i, held, s)) return;
    }
  }

  /**
   * Test hook: staging on or off regardless of the vector width, the smallest staged tensor and the copy size per
   * chunk (small values keep the bit-identity tests small). {@link #resetForTesting} restores the defaults.
   */
  public static void setForTesting(boolean on, long smallestBytes, int copyBytes) {
    enabled = on;
    minBytes = smallestBytes;
    chunkBytes = copyBytes;
  }

  /** Test hook: how many calls took the staged path so far. */
  public static long stagedCallsForTesting() {
    return stagedCalls;
  }

  /** Undoes {@link #setForTesting}. */
  public static void resetForTesting() {
    setForTesting(AVAILABLE, DEFAULT_MIN_BYTES, STREAMED_COPY_BYTES);
  }

  /** Whether staging is on in this JVM: 512-bit vectors and not turned off by {@value #PROPERTY}. */
  public static boolean available() {
    return AVAILABLE;
  }
}
