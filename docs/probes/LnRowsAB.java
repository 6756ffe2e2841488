package dev.vecnorm.internal;

/**
 * Per-row time of the rows-apart forwards (layer norm, RMS norm) and of layer norm's backward (with dGamma and dBeta)
 * of whichever build is on the class path: median of 15 rounds after warm-up, ns a row. Run two builds' classes in
 * alternating JVMs. args: ROWSxFEATURES...
 */
public class LnRowsAB {
  public static void main(String[] a) {
    double sink = 0;
    PanamaLayerNormSupport lib = new PanamaLayerNormSupport();
    for (String shape : a) {
      String[] p = shape.split("x");
      int rows = Integer.parseInt(p[0]), f = Integer.parseInt(p[1]);
      float[] x = new float[rows * f], y = new float[rows * f], g = new float[f], b = new float[f], m = new float[rows], s = new float[rows];
      java.util.Random r = new java.util.Random(1);
      for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
      for (int i = 0; i < f; i++) { g[i] = 1f + 0.01f * i; b[i] = 0.1f * i; }
      int calls = Math.max(50, 4_000_000 / (rows * f));
      double[] ln = new double[15], rms = new double[15], bw = new double[15];
      float[] dy = new float[rows * f], dx = new float[rows * f], dg = new float[f], db = new float[f];
      for (int i = 0; i < dy.length; i++) dy[i] = (float) r.nextGaussian();
      for (int round = -5; round < 15; round++) {
        long t0 = System.nanoTime();
        for (int k = 0; k < calls; k++) PanamaLayerNormSupport.forwardRowsApart(x, 0, y, 0, rows, f, g, b, 1e-3f, m, s, 0);
        long t1 = System.nanoTime();
        for (int k = 0; k < calls; k++) PanamaLayerNormSupport.rmsForwardRowsApart(x, 0, y, 0, rows, f, g, 1e-3f, s, 0);
        long t2 = System.nanoTime();
        PanamaLayerNormSupport.forwardRowsApart(x, 0, y, 0, rows, f, g, b, 1e-3f, m, s, 0);
        long t3 = System.nanoTime();
        for (int k = 0; k < calls; k++) lib.backward(x, 0, dy, 0, dx, 0, rows, f, g, m, s, 0, dg, db);
        long t4 = System.nanoTime();
        if (round >= 0) { ln[round] = (t1 - t0) / (double) calls / rows; rms[round] = (t2 - t1) / (double) calls / rows; bw[round] = (t4 - t3) / (double) calls / rows; }
        sink += y[rows * f / 2] + m[rows / 2] + dx[rows * f / 2] + dg[f / 2];
      }
      java.util.Arrays.sort(ln);
      java.util.Arrays.sort(rms);
      java.util.Arrays.sort(bw);
      System.out.printf("%s ln %.1f rms %.1f ln-bwd %.1f ns/row%n", shape, ln[7], rms[7], bw[7]);
    }
    if (sink == 42) System.out.println("!");
  }
}
