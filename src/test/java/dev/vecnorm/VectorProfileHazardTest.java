package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.ThreadMXBean;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The hazard that got session 13's GroupNorm backward reverted (c92f375), checked in a fresh JVM ({@link ChildJvm}).
 * Mechanism (session 14, engineer gn14, from {@code -XX:+LogCompilation}): that backward ran on a second float
 * species (256-bit {@code Float256Vector}) beside the preferred one ({@code Float512Vector} on AVX-512). The Vector
 * API's shape-independent methods ({@code FloatVector.fma}, {@code sub}, {@code add}, {@code intoArray}: one
 * bytecode for every shape) keep one type profile for all callers, and once both classes had run through them the
 * profiles were bimorphic. Every kernel C2 compiled after that (here: the batch-norm normalize that GroupNorm's
 * NCHW forward calls, recompiled after an uncommon trap) got a receiver-class check per vector operation
 * ({@code bimorphic_or_optimized_type_check}) in place of the direct intrinsic, and a class check needs the object:
 * every vector was boxed (the 17.5 GB of JFR samples in {@code PanamaBatchNormSupport.normalizeChannelsFirst},
 * 8.5-64 MB a call here). Kernels compiled earlier kept their code, so it showed only with some histories.
 *
 * <p>The probe runs the library's kernels (all norms, both layouts, several plane sizes and group counts) and then
 * C2-compiles a kernel of its own on the preferred species, shaped as batch norm's channels-first normalize, and
 * counts what it allocates: nothing, unless some library kernel used another float shape. It also counts
 * GroupNorm's NCHW forward after LayerNorm/RMSNorm and GroupNorm's backward, the symptom the lead saw. On the
 * reverted gn13 state it fails (see the report of gn14 for the numbers); on a library with one float species it
 * passes.
 */
class VectorProfileHazardTest {
  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  private static final int N = 4096;

  /** The child JVM: prints the probe kernel's and GroupNorm NCHW forward's fewest bytes a call. */
  public static final class Probe {
    public static void main(String[] args) {
      ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
      history();
      float[] x = new float[N], y = new float[N];
      for (int i = 0; i < N; i++) x[i] = (i * 37 % 101) * 0.01f;
      // C2 compiles it now, after the library's profiles: ragged planes first, then whole-vector planes (a new branch:
      // an uncommon trap and a recompile, as GroupNorm's forward had when its first NCHW shape with such planes came)
      for (int i = 0; i < 20_000; i++) kernel(x, y, 49, 0.5f, 1.25f, 0.1f);
      for (int i = 0; i < 20_000; i++) kernel(x, y, 64, 0.5f, 1.25f, 0.1f);
      long kernelBytes = Long.MAX_VALUE;
      for (int round = 0; round < 5; round++) {
        long t0 = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < 2000; i++) kernel(x, y, 64, 0.5f, 1.25f, 0.1f);
        kernelBytes = Math.min(kernelBytes, (threads.getCurrentThreadAllocatedBytes() - t0) / 2000);
      }
      GroupShape g = GroupShape.nchw(4, 64, 196, 32);
      float[] gx = data(g.size()), gy = new float[(int) g.size()], gamma = ones(64), beta = new float[64];
      float[] mean = new float[g.statistics()], invStd = new float[g.statistics()];
      long forwardBytes = Long.MAX_VALUE;
      for (int round = 0; round < 40 && forwardBytes > 0; round++) {
        long t0 = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < 200; i++) GroupNorm.forward(g, gx, 0, gamma, beta, 1e-3f, gy, 0, mean, invStd);
        forwardBytes = Math.min(forwardBytes, (threads.getCurrentThreadAllocatedBytes() - t0) / 200);
      }
      System.out.println(kernelBytes + " " + forwardBytes);
    }

    /**
     * Batch norm's channels-first normalize loop ({@code y = (x - m) * a + b} per plane of {@code inner} floats), preferred
     * species: a ragged plane ends with one vector loaded before the plane's stores, others with a scalar tail.
     */
    static void kernel(float[] x, float[] y, int inner, float m, float a, float b) {
      int lanes = SPECIES.length(), bound = SPECIES.loopBound(inner);
      for (int p = 0; p + inner <= x.length; p += inner) {
        FloatVector vm = FloatVector.broadcast(SPECIES, m), va = FloatVector.broadcast(SPECIES, a), vb = FloatVector.broadcast(SPECIES, b);
        int i = 0;
        if (bound != inner && inner > lanes) {
          FloatVector last = FloatVector.fromArray(SPECIES, x, p + inner - lanes);
          for (; i < bound; i += lanes) FloatVector.fromArray(SPECIES, x, p + i).sub(vm).fma(va, vb).intoArray(y, p + i);
          last.sub(vm).fma(va, vb).intoArray(y, p + inner - lanes);
          continue;
        }
        for (; i < bound; i += lanes) FloatVector.fromArray(SPECIES, x, p + i).sub(vm).fma(va, vb).intoArray(y, p + i);
        for (; i < inner; i++) y[p + i] = Math.fma(x[p + i] - m, a, b);
      }
    }

    /**
     * The peers' order ({@code jmh/bench peers --norms}): layer and RMS norm forward and backward, then group norm
     * forward and backward over plane sizes 1x1 to 14x14 and groups 1, 8, 32 and C in both layouts, and batch norm;
     * small tensors, enough calls that every kernel runs in the interpreter and C1 (which write the profiles).
     */
    static void history() {
      int rows = 64, features = 256;
      float[] x = data(rows * features), y = new float[rows * features], dy = data(rows * features), dx = new float[rows * features];
      float[] gamma = ones(features), beta = new float[features], dGamma = new float[features], dBeta = new float[features];
      float[] mean = new float[rows], invStd = new float[rows];
      for (int i = 0; i < 400; i++) {
        LayerNorm.forward(rows, features, x, 0, gamma, beta, 1e-3f, y, 0, mean, invStd);
        LayerNorm.backward(rows, features, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
        RmsNorm.forward(rows, features, x, 0, gamma, 1e-3f, y, 0, invStd);
        RmsNorm.backward(rows, features, x, 0, dy, 0, gamma, invStd, dx, 0, dGamma);
      }
      for (int spatial : new int[] {1, 9, 25, 49, 196}) {
        for (int groups : new int[] {1, 8, 32, 64}) {
          for (boolean last : new boolean[] {false, true}) {
            GroupShape g = last ? GroupShape.nhwc(2, spatial, 64, groups) : GroupShape.nchw(2, 64, spatial, groups);
            float[] gx = data(g.size()), gy = new float[(int) g.size()], gdy = data(g.size()), gdx = new float[(int) g.size()];
            float[] gm = new float[g.statistics()], gs = new float[g.statistics()];
            float[] gg = ones(64), gb = new float[64], dg = new float[64], db = new float[64];
            for (int i = 0; i < 300; i++) {
              GroupNorm.forward(g, gx, 0, gg, gb, 1e-3f, gy, 0, gm, gs);
              GroupNorm.backward(g, gx, 0, gdy, 0, gg, gm, gs, gdx, 0, dg, db);
            }
          }
        }
      }
      for (NormShape s : new NormShape[] {NormShape.channelsFirst(4, 16, 49), NormShape.channelsLast(196, 16), NormShape.channelsLast(64, 64)}) {
        int n = Math.toIntExact(s.size()), c = s.channels();
        float[] bx = data(n), by = new float[n], bdy = data(n), bdx = new float[n];
        float[] bg = ones(c), bb = new float[c], bm = new float[c], bv = new float[c], bs = new float[c], dg = new float[c], db = new float[c];
        for (int i = 0; i < 300; i++) {
          BatchNorm.forwardTraining(s, bx, 0, bg, bb, 1e-3f, by, 0, bm, bv, bs);
          BatchNorm.backward(s, bx, 0, bdy, 0, bg, bm, bs, bdx, 0, dg, db);
        }
      }
    }

    static float[] data(long n) {
      float[] a = new float[Math.toIntExact(n)];
      for (int i = 0; i < a.length; i++) a[i] = (i * 53 % 97) * 0.02f - 1f;
      return a;
    }

    static float[] ones(int n) {
      float[] a = new float[n];
      java.util.Arrays.fill(a, 1f);
      return a;
    }
  }

  @Test
  void kernelsCompiledAfterTheLibraryDoNotBoxVectors() throws Exception {
    String out = ChildJvm.run(Probe.class, 120, "--add-modules", "jdk.incubator.vector").stdout();
    String[] best = out.substring(out.lastIndexOf('\n') + 1).trim().split(" ");
    long kernel = Long.parseLong(best[0]), forward = Long.parseLong(best[1]);
    // Boxed, the probe kernel allocates a vector object and its payload per operation: 256 vectors a call, >= 20 KB.
    assertTrue(kernel < 256, "a preferred-species kernel compiled after the library's kernels allocated " + kernel
        + " B a call: some library kernel ran a second float vector shape and made the Vector API's profiles bimorphic");
    // Boxed, GroupNorm's NCHW forward here allocates ~0.8 MB a call (every vector of 4x64x196 floats).
    assertTrue(forward < 4096, "GroupNorm NCHW forward after the other norms allocated " + forward + " B a call");
  }

  /** A vector shape other than the preferred one: fixed-size species, species by shape or bit size, shape changes. */
  private static final Pattern OTHER_SHAPE = Pattern.compile(
      "SPECIES_(64|128|256|512|MAX)\\b|VectorSpecies\\.of\\(|VectorShape\\.|\\.withShape\\(|\\.(cast|convert|reinterpret)Shape\\(");

  /**
   * The cause, checked in the sources: the library's kernels use the preferred species only (no fixed-size species, no
   * species by shape or bit size, no shape-changing conversions), so the Vector API's shared methods see one vector class
   * per element type. gn13's {@code VectorSpecies.of(float.class, VectorShape.forBitSize(...))} fails this. Runs where
   * the sources are (Maven runs tests from the project's root).
   */
  @Test
  void theLibraryUsesOneVectorShape() throws IOException {
    Path root = Path.of("src/main/java");
    Assumptions.assumeTrue(Files.isDirectory(root), "sources not found from " + Path.of("").toAbsolutePath());
    List<String> hits = new ArrayList<>();
    try (Stream<Path> files = Files.walk(root)) {
      for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
        List<String> lines = Files.readAllLines(f);
        for (int i = 0; i < lines.size(); i++) {
          String line = lines.get(i).strip();
          if (line.startsWith("*") || line.startsWith("//") || line.startsWith("/*")) continue; // comments may name them
          Matcher m = OTHER_SHAPE.matcher(line);
          if (m.find()) hits.add(root.relativize(f) + ":" + (i + 1) + ": " + line);
        }
      }
    }
    assertTrue(hits.isEmpty(), "a second vector shape pollutes the Vector API's type profiles and makes kernels compiled "
        + "afterwards box their vectors (see this class); use the preferred species only: " + hits);
  }
}
