package dev.vecnorm.bench;

import java.io.File;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * {@code LayerNorm.backward} of two library builds in one JVM, paired on the same arrays: each jar in its own class
 * loader, rounds alternating A B / B A, so drift of a shared machine (other engineers' builds compete for the memory
 * bandwidth of these L3-sized shapes even when niced) and where the arrays sit land on both sides alike. A fork-level
 * A/B ({@link AbRun}) compares JVMs whose arrays sit at different offsets mod 4 KiB, which alone moves this kernel by
 * up to 1.5x (below). Per placement it prints each side's median µs a call and the median of the per-round ratios B/A
 * (quartiles in brackets). An A/A run (the same jar twice) read 0.99-1.02 beside a quiet machine and 0.93-1.21 with
 * other engineers' test suites running (load 12 on two vCPUs): run A/A first, and repeat before reading a ratio.
 *
 * <p>Arguments: {@code A.jar B.jar ROWS FEATURES} (the library jars, {@code target/vecnorm-*.jar}); properties
 * {@code -Dplacements=0,1024,2048,3072} (dGamma's element 0 that many bytes past x's mod 4096, dBeta 2048 bytes
 * further; allocated with {@link Addresses#at}), {@code -Dreps=11} rounds, {@code -Dcalls=10} calls a round,
 * {@code -DnullB=true} (side B passes null dGamma and dBeta: the price of the parameter gradients), {@code -Dbase=P}
 * (side A keeps dGamma at placement P throughout: with the same jar on both sides, B/A is each placement's time
 * against P's, paired).
 * <pre>java --add-modules jdk.incubator.vector --sun-misc-unsafe-memory-access=allow -Xms2g -Xmx2g \
 *   -cp jmh/target/benchmarks.jar dev.vecnorm.bench.LayerNormBackwardProbe /tmp/lead/main.jar target/vecnorm-0.1.0-SNAPSHOT.jar 2048 768</pre>
 *
 * <p>What it showed (fifteenth session, engineer ln15; AMD EPYC, 16 lanes; machine shared, so absolute µs drifted
 * 1.5-2x between runs while paired ratios held to about ±3%): main's backward with null dGamma/dBeta took 0.67-0.77x
 * the time with them at 2048x768 (0.63-0.76x in a quieter hour) and 0.76x at 64x768 (L2-resident): the per-row load-add-store of dGamma and dBeta
 * is a quarter to a third of the kernel. With x, dy and dx fixed, dGamma/dBeta placements alone moved main from
 * ~700 to ~1070 µs at 2048x768 in one JVM (placements timed one after another, so drift is not ruled out; a
 * second sweep under heavy load read 924-1641 µs with no clear order). Paired against a fixed placement instead
 * ({@code -Dbase=0}, same jar twice, quieter machine): dGamma 256 or 512 bytes past x mod 4 KiB took 1.20-1.23x at
 * 2048x768 and 1.36x (512) at 1024x1000, every other placement 0.96-1.02x; in another JVM no placement stood out.
 * x, dy and x's rows move against a fixed dGamma from row to row (768 floats are 3 KiB), so what stays fixed per
 * JVM is dGamma/dBeta against gamma: a likely reading is that gamma's loads run into dGamma's in-flight stores
 * (4K aliasing) when dGamma sits a few vectors past gamma mod 4 KiB. A build that copies gamma, dGamma and dBeta
 * into one pooled array at 1536-byte spacings (same bits; /tmp/ln15/variant-B8-spaced.diff in that session) read
 * B/A 0.85-0.90 at 2048x768 in one JVM and 0.94-1.00 in another, 0.98-1.01 at 1024x1000, 0.96-1.04 at 512x4096,
 * 1.03-1.11 at 4096x256 and 1.1-1.7 on calls of 1-16 rows (the copies); gated to 128 rows and up, two more JVMs read
 * 0.69-0.95 and 1.10-1.35 at 2048x768 and 1.21-1.24 at 1024x1000: the pooled array's own placement against x, dy and
 * dx is another lottery, so it was not kept. Four same-bits rewrites lost, B/A: a blocked column pass (per block of
 * 8 rows: row sums, then dGamma/dBeta in registers down a strip of columns, then dx) 1.14x at 2048x768, 1.38x at
 * 1024x1000, 1.14-1.21x at 512x4096; rows in pairs (one load and store of dGamma/dBeta for two rows, in the row
 * sums' read) 1.18-1.25x at 2048x768 (three JVMs), 0.96-1.04x at 1024x1000, 0.86-0.88x at 512x4096, 1.03x at
 * 4096x256; four rows' dGamma/dBeta in one pass from cache between their sums and their dx 1.07-1.46x; the
 * gradients accumulated in the dx pass (x and dy from L1 there) instead of the sums' pass 1.03-1.15x.
 */
public final class LayerNormBackwardProbe {
  private LayerNormBackwardProbe() {}

  public static void main(String[] args) throws Throwable {
    int rows = Integer.parseInt(args[2]), features = Integer.parseInt(args[3]);
    int reps = Integer.getInteger("reps", 11), calls = Integer.getInteger("calls", 10);
    boolean nullB = Boolean.getBoolean("nullB");
    int[] placements = Arrays.stream(System.getProperty("placements", "0,1024,2048,3072").split(",")).mapToInt(Integer::parseInt).toArray();
    MethodHandle[] backward = new MethodHandle[2];
    MethodHandle forward = null;
    MethodType bt = MethodType.methodType(void.class, int.class, int.class, float[].class, int.class, float[].class, int.class,
        float[].class, float[].class, float[].class, float[].class, int.class, float[].class, float[].class);
    for (int i = 0; i < 2; i++) {
      URLClassLoader loader = new URLClassLoader(new URL[] {new File(args[i]).toURI().toURL()}, ClassLoader.getPlatformClassLoader());
      Class<?> ln = Class.forName("dev.vecnorm.LayerNorm", true, loader);
      backward[i] = MethodHandles.publicLookup().findStatic(ln, "backward", bt);
      if (i == 0) {
        forward = MethodHandles.publicLookup().findStatic(ln, "forward", MethodType.methodType(void.class, int.class, int.class,
            float[].class, int.class, float[].class, float[].class, float.class, float[].class, int.class, float[].class, float[].class));
      }
    }
    SplittableRandom rnd = new SplittableRandom(7);
    int n = rows * features;
    float[] x = new float[n], dy = new float[n], dx = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) rnd.nextGaussian();
      dy[i] = (float) rnd.nextGaussian();
    }
    float[] gamma = new float[features], beta = new float[features], mean = new float[rows], invStd = new float[rows];
    for (int i = 0; i < features; i++) gamma[i] = 1 + 0.1f * (float) rnd.nextGaussian();
    forward.invokeExact(rows, features, x, 0, gamma, beta, 1e-5f, dx, 0, mean, invStd);
    // The same bits from both jars, each into its own outputs.
    float[][] out = new float[2][n], dg = new float[2][features], db = new float[2][features];
    for (int i = 0; i < 2; i++) backward[i].invokeExact(rows, features, x, 0, dy, 0, gamma, mean, invStd, out[i], 0, dg[i], db[i]);
    boolean same = Arrays.equals(out[0], out[1]) && Arrays.equals(dg[0], dg[1]) && Arrays.equals(db[0], db[1]);
    System.out.printf(Locale.ROOT, "%dx%d, same bits: %s, x at %d mod 4096, dx at %d, %s%n", rows, features, same, Addresses.line(x),
        Addresses.line(dx), Addresses.describe());
    for (int w = 0; w < 300; w++) {
      for (int i = 0; i < 2; i++) backward[i].invokeExact(rows, features, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dg[0], db[0]);
    }
    Integer base = Integer.getInteger("base"); // side A's placement when given: B/A is then placement against placement
    float[] baseGamma = base == null ? null : Addresses.at(features, Math.floorMod(Addresses.line(x) + base, 4096), 4096);
    float[] baseBeta = base == null ? null : Addresses.at(features, Math.floorMod(Addresses.line(x) + base + 2048, 4096), 4096);
    for (int place : placements) {
      float[] dGamma = Addresses.at(features, Math.floorMod(Addresses.line(x) + place, 4096), 4096);
      float[] dBeta = Addresses.at(features, Math.floorMod(Addresses.line(x) + place + 2048, 4096), 4096);
      double[][] t = new double[2][reps];
      double[] ratio = new double[reps];
      for (int r = 0; r < reps; r++) {
        for (int k = 0; k < 2; k++) {
          int i = (r & 1) == 0 ? k : 1 - k;
          float[] g = i == 1 && nullB ? null : i == 0 && base != null ? baseGamma : dGamma;
          float[] b = i == 1 && nullB ? null : i == 0 && base != null ? baseBeta : dBeta;
          long t0 = System.nanoTime();
          for (int c = 0; c < calls; c++) backward[i].invokeExact(rows, features, x, 0, dy, 0, gamma, mean, invStd, dx, 0, g, b);
          t[i][r] = (System.nanoTime() - t0) / 1e3 / calls;
        }
        ratio[r] = t[1][r] / t[0][r];
      }
      Arrays.sort(t[0]);
      Arrays.sort(t[1]);
      Arrays.sort(ratio);
      System.out.printf(Locale.ROOT, "  dGamma %4d B past x mod 4096 (at %4d), dBeta at %4d: A %8.1f µs, B %8.1f µs, B/A %.3f [%.3f %.3f]%n",
          place, Addresses.line(dGamma), Addresses.line(dBeta), t[0][reps / 2], t[1][reps / 2], ratio[reps / 2], ratio[reps / 4],
          ratio[3 * reps / 4]);
    }
  }
}
