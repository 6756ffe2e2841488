import dev.vecnorm.LayerNorm;
import java.util.*;
import jdk.incubator.vector.*;
/** LayerNorm.forward (training, inference) against a plain vector copy, the copy with eight FMAs a vector (heavy) or three more L1 loads a vector (heavyL1), and a plain read, one JVM. args: RxF rounds */
public class LnFwdCopy {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  static float sink;
  public static void main(String[] a) {
    String[] s = a[0].split("x"); int r = Integer.parseInt(s[0]), f = Integer.parseInt(s[1]);
    int rounds = Integer.parseInt(a[1]);
    Random rnd = new Random(1);
    float[] x = new float[r*f], y = new float[r*f], g = new float[f], b = new float[f], m = new float[r], is = new float[r];
    for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
    for (int i = 0; i < f; i++) { g[i] = 1 + 0.1f*i/f; b[i] = 0.01f*i; }
    Runnable[] ops = {
      () -> LayerNorm.forward(r, f, x, 0, g, b, 1e-3f, y, 0, m, is),
      () -> LayerNorm.forward(r, f, x, 0, g, b, 1e-3f, y, 0, null, null),
      () -> copy(x, y),
      () -> heavy(x, y),
      () -> heavyL1(x, y, g, b),
      () -> sink += read(x)};
    System.out.println(Probe.medians(a[0], new String[]{"train","infer","copy","heavy","heavyL1","read"}, ops, 300, rounds, 5));
  }
  static void copy(float[] x, float[] y) {
    FloatVector k = FloatVector.broadcast(S, 1.5f);
    for (int i = 0; i < S.loopBound(x.length); i += S.length()) FloatVector.fromArray(S, x, i).mul(k).intoArray(y, i);
  }
  static void heavy(float[] x, float[] y) {
    FloatVector k = FloatVector.broadcast(S, 1.5f), k2 = FloatVector.broadcast(S, 0.25f);
    for (int i = 0; i < S.loopBound(x.length); i += S.length()) {
      FloatVector v = FloatVector.fromArray(S, x, i);
      v = v.fma(k, k2).fma(k, k2).fma(k, k2).fma(k, k2).fma(k, k2).fma(k, k2).fma(k, k2).fma(k, k2);
      v.intoArray(y, i);
    }
  }
  /** copy plus three L1 loads a vector (gamma, beta twice), as the forward's normalize loads. */
  static void heavyL1(float[] x, float[] y, float[] g, float[] b) {
    int f = g.length, vb = S.loopBound(f);
    for (int r = 0; r < x.length / f; r++) {
      int o = r * f;
      for (int i = 0; i < vb; i += S.length()) {
        FloatVector v = FloatVector.fromArray(S, x, o + i);
        v.fma(FloatVector.fromArray(S, g, i), FloatVector.fromArray(S, b, i)).add(FloatVector.fromArray(S, g, i)).intoArray(y, o + i);
      }
    }
  }
  static float read(float[] x) {
    FloatVector a0 = FloatVector.zero(S);
    for (int i = 0; i < S.loopBound(x.length); i += S.length()) a0 = a0.add(FloatVector.fromArray(S, x, i));
    return a0.reduceLanes(VectorOperators.ADD);
  }
}
