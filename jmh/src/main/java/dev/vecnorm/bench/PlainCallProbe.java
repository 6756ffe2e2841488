package dev.vecnorm.bench;

import dev.vecnorm.*;
import java.lang.foreign.*;
import java.util.*;

/**
 * A plain user program: one family, one operation, one shape on native segments, nothing else in the JVM, then the bytes
 * allocated a call (ThreadMXBean, 200 calls after {@code CALLS} warm-up calls, default 3000) and the median time a call.
 * Written for the twenty-fifth session, which found that whether C2 scalar-replaces a segment slice made in a kernel
 * loop depends on the JDK's asSlice profile, so fresh JVMs differ: run it several times.
 * Families: {@code ln fwd|bwd ROWSxFEATURES}; {@code rms fwd|bwd ROWSxFEATURES}; {@code gn fwd|bwd NxCxS [GROUPS]} (NCHW);
 * {@code gnl fwd|bwd NxSxC [GROUPS]} (NHWC); {@code bn train|infer|bwd RxC}
 * (NC) or {@code NxCxS} (NCHW); {@code bnl train|infer|bwd NxSxC} (NHWC).
 * <pre>for i in 1 2 3 4 5; do java --add-modules jdk.incubator.vector -cp jmh/target/benchmarks.jar dev.vecnorm.bench.PlainCallProbe bn train 256x1024; done</pre>
 */
public final class PlainCallProbe {
  public static void main(String[] a) {
    String fam = a[0], op = a[1]; String[] d = a[2].split("x");
    int calls = Integer.getInteger("calls", 3000);
    Arena arena = Arena.ofShared();
    long n = 1; for (String s : d) n *= Integer.parseInt(s);
    MemorySegment x = arena.allocate(4 * n, 64), y = arena.allocate(4 * n, 64), dy = arena.allocate(4 * n, 64), dx = arena.allocate(4 * n, 64);
    Random r = new Random(1);
    for (long i = 0; i < n; i++) { x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian()); dy.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian()); }
    Runnable call;
    switch (fam) {
      case "ln" -> {
        int rows = Integer.parseInt(d[0]), f = Integer.parseInt(d[1]);
        float[] g = new float[f], b = new float[f], m = new float[rows], is = new float[rows], dg = new float[f], db = new float[f];
        Arrays.fill(g, 1.2f);
        LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, is);
        call = op.equals("fwd") ? () -> LayerNorm.forward(rows, f, x, 0, g, b, 1e-3f, y, 0, m, is)
            : () -> LayerNorm.backward(rows, f, x, 0, dy, 0, g, m, is, dx, 0, dg, db);
      }
      case "gn" -> { // NCHW n c s
        GroupShape s = GroupShape.nchw(Integer.parseInt(d[0]), Integer.parseInt(d[1]), Integer.parseInt(d[2]), Integer.parseInt(a.length > 3 ? a[3] : "32"));
        int c = Integer.parseInt(d[1]);
        float[] g = new float[c], b = new float[c], m = new float[s.statistics()], is = new float[s.statistics()], dg = new float[c], db = new float[c];
        Arrays.fill(g, 1.2f);
        GroupNorm.forward(s, x, 0, g, b, 1e-3f, y, 0, m, is);
        call = op.equals("fwd") ? () -> GroupNorm.forward(s, x, 0, g, b, 1e-3f, y, 0, m, is)
            : () -> GroupNorm.backward(s, x, 0, dy, 0, g, m, is, dx, 0, dg, db);
      }
      case "rms" -> {
        int rows = Integer.parseInt(d[0]), f = Integer.parseInt(d[1]);
        float[] g = new float[f], inv = new float[rows], dg = new float[f];
        Arrays.fill(g, 1.2f);
        RmsNorm.forward(rows, f, x, 0, g, 1e-3f, y, 0, inv);
        call = op.equals("fwd") ? () -> RmsNorm.forward(rows, f, x, 0, g, 1e-3f, y, 0, inv)
            : () -> RmsNorm.backward(rows, f, x, 0, dy, 0, g, inv, dx, 0, dg);
      }
      case "gnl" -> { // NHWC n s c
        int c = Integer.parseInt(d[2]);
        GroupShape s = GroupShape.nhwc(Integer.parseInt(d[0]), Integer.parseInt(d[1]), c, Integer.parseInt(a.length > 3 ? a[3] : "32"));
        float[] g = new float[c], b = new float[c], m = new float[s.statistics()], is = new float[s.statistics()], dg = new float[c], db = new float[c];
        Arrays.fill(g, 1.2f);
        GroupNorm.forward(s, x, 0, g, b, 1e-3f, y, 0, m, is);
        call = op.equals("fwd") ? () -> GroupNorm.forward(s, x, 0, g, b, 1e-3f, y, 0, m, is)
            : () -> GroupNorm.backward(s, x, 0, dy, 0, g, m, is, dx, 0, dg, db);
      }
      default -> { // bn NC r c | bn NCHW n c s | NHWC n s c
        NormShape s = d.length == 2 ? NormShape.channelsLast(Integer.parseInt(d[0]), Integer.parseInt(d[1]))
            : fam.equals("bnl") ? NormShape.channelsLast(Integer.parseInt(d[0]) * Integer.parseInt(d[1]), Integer.parseInt(d[2]))
            : NormShape.channelsFirst(Integer.parseInt(d[0]), Integer.parseInt(d[1]), Integer.parseInt(d[2]));
        int c = s.channels();
        float[] g = new float[c], b = new float[c], m = new float[c], v = new float[c], is = new float[c], dg = new float[c], db = new float[c];
        Arrays.fill(g, 1.2f); Arrays.fill(v, 1f);
        BatchNorm.forwardTraining(s, x, 0, g, b, 1e-3f, y, 0, m, v, is);
        call = switch (op) {
          case "train" -> () -> BatchNorm.forwardTraining(s, x, 0, g, b, 1e-3f, y, 0, m, v, is);
          case "infer" -> () -> BatchNorm.forwardInference(s, x, 0, g, b, m, v, 1e-3f, y, 0);
          default -> () -> BatchNorm.backward(s, x, 0, dy, 0, g, m, is, dx, 0, dg, db);
        };
      }
    }
    var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    for (int i = 0; i < calls; i++) call.run();
    long[] t = new long[200];
    long b0 = mx.getCurrentThreadAllocatedBytes();
    for (int i = 0; i < 200; i++) { long t0 = System.nanoTime(); call.run(); t[i] = System.nanoTime() - t0; }
    long bytes = (mx.getCurrentThreadAllocatedBytes() - b0) / 200;
    Arrays.sort(t);
    System.out.printf("%s %s %s: %d B/call, median %.1f us%n", fam, op, a[2], bytes, t[100] / 1e3);
  }
}
