package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vecnorm.internal.FusedReluSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Property tests: random shapes (awkward sizes around 8 and 16 lanes, 17, 1023, both layouts), offsets,
 * in-place aliasing, every entry point (float[], float[]-backed, byte[]-backed at unaligned offsets and
 * native segments), both implementations, and five value ranges, against the double-precision
 * {@link Reference} computed on the same float data.
 *
 * <p>Value ranges: {@code NORMAL} N(shift, scale) per channel; {@code TINY} 1e-30 * N(0,1) (squares
 * underflow float); {@code HUGE} {@link #HUGE_SCALE} * N(0,1) with channel shifts up to 3 * HUGE_SCALE;
 * {@code OFFSET} 1e4 + N(0, 0.01) (cancellation); {@code MIXED} random sign * 10^U(-3,3).
 *
 * <p>Tolerances, for float32 kernels against double on the same inputs. With {@code ulp} the float
 * ulp, {@code std} the reference standard deviation and {@code a = gamma * invStd}:
 * <ul>
 *   <li>mean: {@code 1e-5 * std + 2 ulp(mean)} (accumulation error against the spread, plus rounding to float);</li>
 *   <li>variance: {@code 2e-4 * var + ulp(mean) * (ulp(mean) + std) + 1e-37}: relative, plus what merging
 *       partial means rounded to float can cost (the blocked layout and the chunked parallel and staged
 *       paths merge them): the variance of the data with each part shifted by up to half an ulp of the
 *       mean, about 1% at 1e4 + N(0, 0.01) where float itself resolves the data to 8% of a std;
 *       plus an absolute floor where squares underflow;</li>
 *   <li>invStd: the variance tolerance carried through {@code 1/sqrt(var + eps)}, plus {@code 1e-6} relative;</li>
 *   <li>x-hat, as a kernel sees it, is exact for an x and a mean perturbed by a few float ulps and by the
 *       mean tolerance: {@code dxhat = invStd * (4 ulp(max(|x|, |mean|)) + meanTolerance)};</li>
 *   <li>y: {@code 2e-4 * (|y| + |beta|)}, plus the invStd error times {@code |y - beta|}, plus {@code |gamma| * dxhat};</li>
 *   <li>dx, dGamma, dBeta: {@code 2e-4} of the sum of the magnitudes of the terms they add (as
 *       {@link KernelsTest}), plus the x-hat and invStd perturbations carried through the formula.</li>
 * </ul>
 * About 1 minute on 2 shared cores is the budget; the tries below stay well under it.
 */
class AdversarialPropertiesTest {

  static final float EPS = 1e-3f;
  static final int MAX_SIZE = 40_000;
  /**
   * Issue 10.1 asks for 1e18 (var ~1e36, a finite float). The kernels on this branch still sum squares
   * in float, so n * var past Float.MAX_VALUE gives var = Infinity; until that fix is merged the range
   * stays where n * var fits: 1e15 * (scale 4.5 + shift 3) over 40,000 elements.
   */
  static final double HUGE_SCALE = Double.parseDouble(System.getProperty("vecnorm.hugeScale", "1e18"));

  enum Values { NORMAL, TINY, HUGE, OFFSET, MIXED }

  /** How the tensors are passed. */
  enum Entry { FLOATS, HEAP_SEGMENT, BYTE_SEGMENT, NATIVE_SEGMENT }

  record Case(Kernels k, NormShape s, Values values, Entry entry, int xOff, int outOff, boolean inPlace, boolean gamma,
              boolean beta, long seed) {}

  static final List<Kernels> KERNELS = Implementations.all();
  static final List<FusedReluSupport> FUSED = fused();

  static List<FusedReluSupport> fused() {
    List<FusedReluSupport> list = new ArrayList<>(List.of(VectorizationProvider.scalarFusedRelu()));
    VectorizationProvider.panamaFusedRelu().ifPresent(list::add);
    return list;
  }

  static NormShape shape(SplittableRandom r, int maxSize) {
    while (true) {
      NormShape s = r.nextBoolean()
          ? NormShape.channelsLast(PropertyCheck.dimension(r, 1023), PropertyCheck.dimension(r, 1023))
          : NormShape.channelsFirst(PropertyCheck.dimension(r, 9), PropertyCheck.dimension(r, 64), PropertyCheck.dimension(r, 1023));
      if (s.size() <= maxSize) return s;
    }
  }

  static Case forwardCase(SplittableRandom r) {
    Entry entry = PropertyCheck.oneOf(r, Entry.values());
    return new Case(PropertyCheck.oneOf(r, KERNELS.toArray(new Kernels[0])), shape(r, MAX_SIZE),
        PropertyCheck.oneOf(r, Values.values()), entry, r.nextInt(18), r.nextInt(18), r.nextInt(3) == 0, r.nextInt(4) > 0,
        r.nextInt(4) > 0, r.nextLong());
  }

  /** {@code pad} + size floats, the tensor at {@code pad}, drawn from {@code v}; the padding is random too. */
  static float[] data(NormShape s, Values v, int pad, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[(int) s.size() + pad + 7];
    int C = s.channels();
    double[] shift = new double[C], scale = new double[C];
    for (int c = 0; c < C; c++) {
      shift[c] = (c % 7) - 3;
      scale[c] = 0.5 + (c % 5);
    }
    for (int k = 0; k < x.length; k++) {
      int c = k < pad ? 0 : (int) (((k - pad) / s.inner()) % C);
      double g = r.nextGaussian();
      x[k] = (float) switch (v) {
        case NORMAL -> shift[c] + scale[c] * g;
        case TINY -> 1e-30 * (g + shift[c]);
        case HUGE -> HUGE_SCALE * (scale[c] * g + shift[c]);
        case OFFSET -> 1e4 + 0.01 * g;
        case MIXED -> (r.nextBoolean() ? 1 : -1) * Math.pow(10, -3 + 6 * r.nextDouble());
      };
    }
    return x;
  }

  static double ulp(double v) {
    return Math.ulp((float) Math.min(Math.abs(v), Float.MAX_VALUE));
  }

  /** Per-channel tolerances from the reference statistics, as the class comment derives them. */
  record Tol(double mean, double variance, double invStdRelative, double invStd) {
    static Tol of(double mean, double var) {
      double tm = 1e-5 * Math.sqrt(var) + 2 * ulp(mean) + 1e-44;
      double tv = 2e-4 * var + ulp(mean) * (ulp(mean) + Math.sqrt(var)) + 1e-37;
      return new Tol(tm, tv, 0.5 * tv / (var + EPS) + 1e-6, 1 / Math.sqrt(var + EPS));
    }

    /** How far x-hat of an element x may be off. */
    double xhat(double x, double mean) {
      return invStd * (4 * ulp(Math.max(Math.abs(x), Math.abs(mean))) + this.mean);
    }
  }

  static void assertStatistics(double[][] ref, float[] mean, float[] var, float[] inv) {
    for (int ch = 0; ch < mean.length; ch++) {
      Tol t = Tol.of(ref[0][ch], ref[1][ch]);
      assertClose("mean[" + ch + "]", ref[0][ch], mean[ch], t.mean());
      assertClose("variance[" + ch + "]", ref[1][ch], var[ch], t.variance());
      if (inv != null) assertClose("invStd[" + ch + "]", t.invStd(), inv[ch], t.invStd() * t.invStdRelative());
    }
  }

  // ------------------------------------------------------------------ training forward

  @Test
  void forwardTrainingMatchesReference() {
    PropertyCheck.forAll("forwardTraining", 120, AdversarialPropertiesTest::forwardCase, c -> {
      NormShape s = c.s();
      int C = s.channels(), n = (int) s.size();
      float[] x = data(s, c.values(), c.xOff(), c.seed());
      float[] gamma = c.gamma() ? Reference.perChannel(C, 1, 0.5, c.seed() + 1) : null;
      float[] beta = c.beta() ? Reference.perChannel(C, 0, 1, c.seed() + 2) : null;
      float[] mean = new float[C], var = new float[C], inv = new float[C];
      double[][] ref = Reference.moments(s, x, c.xOff());
      float[] xCopy = x.clone();
      float[] y = run(c, x, gamma, beta, mean, var, inv);
      int yOff = c.inPlace() ? c.xOff() : c.outOff();
      assertStatistics(ref, mean, var, inv);
      double[] yRef = Reference.normalize(s, xCopy, c.xOff(), ref[0], ref[1], EPS, gamma, beta);
      assertOutput(s, xCopy, c.xOff(), ref, gamma, beta, yRef, y, yOff);
    });
  }

  /** Runs the case's entry point; returns the array holding y (x itself when in place). */
  static float[] run(Case c, float[] x, float[] gamma, float[] beta, float[] mean, float[] var, float[] inv) {
    NormShape s = c.s();
    int n = (int) s.size();
    Kernels k = c.k();
    if (c.entry() == Entry.FLOATS || c.entry() == Entry.HEAP_SEGMENT) {
      float[] y = c.inPlace() ? x : new float[n + c.outOff() + 3];
      int yOff = c.inPlace() ? c.xOff() : c.outOff();
      if (c.entry() == Entry.FLOATS) {
        k.forwardTraining(s, x, c.xOff(), gamma, beta, EPS, y, yOff, mean, var, inv);
      } else {
        k.forwardTraining(s, MemorySegment.ofArray(x), 4L * c.xOff(), gamma, beta, EPS, MemorySegment.ofArray(y), 4L * yOff, mean,
            var, inv);
      }
      return y;
    }
    try (Arena arena = Arena.ofConfined()) {
      // Byte offsets need not be float-aligned: the byte[]-backed tensors start at 1..7 bytes.
      long xb = c.entry() == Entry.BYTE_SEGMENT ? 1 + c.xOff() % 7 : 4L * c.xOff();
      long yb = c.inPlace() ? xb : (c.entry() == Entry.BYTE_SEGMENT ? 2 + c.outOff() % 5 : 4L * c.outOff());
      long bytes = 4L * n + 4 * 18 + 16; // room for the largest offsets
      MemorySegment xs = c.entry() == Entry.BYTE_SEGMENT ? MemorySegment.ofArray(new byte[(int) bytes]) : arena.allocate(bytes, 4);
      MemorySegment.copy(x, c.xOff(), xs, ValueLayout.JAVA_FLOAT_UNALIGNED, xb, n);
      MemorySegment ys = c.inPlace() ? xs
          : c.entry() == Entry.BYTE_SEGMENT ? MemorySegment.ofArray(new byte[(int) bytes]) : arena.allocate(bytes, 4);
      k.forwardTraining(s, xs, xb, gamma, beta, EPS, ys, yb, mean, var, inv);
      float[] y = new float[n + c.outOff() + 3];
      int yOff = c.inPlace() ? c.xOff() : c.outOff();
      if (c.inPlace()) y = x.clone();
      MemorySegment.copy(ys, ValueLayout.JAVA_FLOAT_UNALIGNED, yb, y, yOff, n);
      return y;
    }
  }

  static void assertOutput(NormShape s, float[] x, int xOff, double[][] stats, float[] gamma, float[] beta, double[] yRef,
                           float[] y, int yOff) {
    for (int o = 0; o < s.outer(); o++) {
      for (int c = 0; c < s.channels(); c++) {
        Tol t = Tol.of(stats[0][c], stats[1][c]);
        double g = Math.abs(gamma == null ? 1 : gamma[c]), b = beta == null ? 0 : beta[c];
        for (int i = 0; i < s.inner(); i++) {
          int idx = Reference.index(s, o, c, i);
          assertClose("y at " + idx, yRef[idx], y[yOff + idx], yTolerance(t, yRef[idx], b, g, x[xOff + idx], stats[0][c], 0));
        }
      }
    }
  }

  /** The y tolerance of the class comment; {@code residual} is the magnitude of an added residual. */
  static double yTolerance(Tol t, double yRef, double beta, double gamma, double x, double mean, double residual) {
    return 2e-4 * (Math.abs(yRef) + Math.abs(beta) + residual) + t.invStdRelative() * Math.abs(yRef - beta - residual)
        + gamma * t.xhat(x, mean) + 1e-35;
  }

  // ------------------------------------------------------------------ backward

  enum BackwardAlias { SEPARATE, DX_IS_DY, DX_IS_X }

  @Test
  void backwardMatchesReference() {
    PropertyCheck.forAll("backward", 80, r -> new Object[] {forwardCase(r), PropertyCheck.oneOf(r, BackwardAlias.values())}, args -> {
      Case c = (Case) args[0];
      BackwardAlias alias = (BackwardAlias) args[1];
      NormShape s = c.s();
      int C = s.channels(), n = (int) s.size(), off = c.xOff();
      float[] x = data(s, c.values(), off, c.seed()), dy = data(s, Values.NORMAL, off, c.seed() + 5);
      float[] gamma = c.gamma() ? Reference.perChannel(C, 1, 0.5, c.seed() + 1) : null;
      float[] mean = new float[C], var = new float[C], inv = new float[C];
      c.k().forwardTraining(s, x, off, gamma, null, EPS, new float[n], 0, mean, var, inv);
      double[][] ref = Reference.backward(s, x, off, dy, off, gamma, EPS);
      double[][] st = Reference.moments(s, x, off);
      float[] xIn = x.clone(), dyIn = dy.clone(), dGamma = new float[C], dBeta = new float[C];
      float[] dx = switch (alias) {
        case SEPARATE -> new float[dy.length];
        case DX_IS_DY -> dyIn;
        case DX_IS_X -> xIn;
      };
      if (c.entry() == Entry.NATIVE_SEGMENT) {
        try (Arena arena = Arena.ofConfined()) {
          MemorySegment xs = KernelsTest.copyToNative(arena, xIn), dys = KernelsTest.copyToNative(arena, dyIn);
          MemorySegment dxs = switch (alias) {
            case SEPARATE -> arena.allocate(4L * dx.length, 4);
            case DX_IS_DY -> dys;
            case DX_IS_X -> xs;
          };
          c.k().backward(s, xs, 4L * off, dys, 4L * off, gamma, mean, inv, dxs, 4L * off, dGamma, dBeta);
          MemorySegment.copy(dxs, ValueLayout.JAVA_FLOAT, 0, dx, 0, dx.length);
        }
      } else {
        c.k().backward(s, xIn, off, dyIn, off, gamma, mean, inv, dx, off, dGamma, dBeta);
      }
      assertBackward(s, x, dy, off, gamma, st, mean, ref, dx, off, dGamma, dBeta);
    });
  }

  /**
   * dx, dGamma, dBeta against the double reference. With {@code S1 = sum dy}, {@code S2 = sum dy*xhat},
   * {@code dx = a * (dy - S1/n - xhat * S2/n)}: an x-hat off by {@code d} moves S2 by {@code sum |dy| d} and
   * dx by {@code a * (d |S2|/n + (|xhat| + d) sum|dy| d / n)}; an invStd off by {@code r} relative moves dx by
   * up to {@code 3r} relative (it enters a, xhat and S2).
   */
  static void assertBackward(NormShape s, float[] x, float[] dy, int off, float[] gamma, double[][] st, float[] mean,
                             double[][] ref, float[] dx, int dxOff, float[] dGamma, float[] dBeta) {
    double n = s.countPerChannel();
    for (int c = 0; c < s.channels(); c++) {
      Tol t = Tol.of(st[0][c], st[1][c]);
      double invStd = t.invStd(), absDy = 0, absDyXhat = 0, s2Slack = 0, maxXhatSlack = 0;
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          int idx = Reference.index(s, o, c, i);
          double d = t.xhat(x[off + idx], st[0][c]);
          absDy += Math.abs(dy[off + idx]);
          absDyXhat += Math.abs(dy[off + idx] * (x[off + idx] - st[0][c]) * invStd);
          s2Slack += Math.abs(dy[off + idx]) * d;
          maxXhatSlack = Math.max(maxXhatSlack, d);
        }
      }
      assertClose("dBeta[" + c + "]", ref[2][c], dBeta[c], 2e-4 * absDy + 1e-6);
      assertClose("dGamma[" + c + "]", ref[1][c], dGamma[c], 2e-4 * absDyXhat + s2Slack + t.invStdRelative() * absDyXhat + 1e-6);
      double a = Math.abs((gamma == null ? 1 : gamma[c]) * invStd);
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          int idx = Reference.index(s, o, c, i);
          double xhat = Math.abs((x[off + idx] - st[0][c]) * invStd), d = t.xhat(x[off + idx], st[0][c]);
          double scale = a * (Math.abs(dy[off + idx]) + absDy / n + xhat * absDyXhat / n);
          double slack = a * (d * absDyXhat / n + (xhat + d) * s2Slack / n) + 3 * t.invStdRelative() * scale;
          assertClose("dx at " + idx, ref[0][idx], dx[dxOff + idx], 2e-4 * scale + slack + 1e-6);
        }
      }
    }
  }

  // ------------------------------------------------------------------ fused BN + residual + ReLU

  enum ReluAlias { SEPARATE, Y_IS_X, Y_IS_RESIDUAL }

  enum ReluBackwardAlias { SEPARATE, DX_IS_DY, DX_IS_X, DX_IS_Y, DRESIDUAL_IS_DY }

  @Test
  void fusedReluMatchesComposition() {
    PropertyCheck.forAll("fusedRelu", 80, r -> new Object[] {forwardCase(r), PropertyCheck.oneOf(r, FUSED.toArray(new FusedReluSupport[0])),
        r.nextBoolean(), PropertyCheck.oneOf(r, ReluAlias.values()), PropertyCheck.oneOf(r, ReluBackwardAlias.values())}, args -> {
      Case c = (Case) args[0];
      FusedReluSupport fused = (FusedReluSupport) args[1];
      boolean withResidual = (Boolean) args[2];
      ReluAlias alias = withResidual ? (ReluAlias) args[3] : ReluAlias.SEPARATE;
      ReluBackwardAlias backAlias = (ReluBackwardAlias) args[4];
      if (!withResidual && backAlias == ReluBackwardAlias.DRESIDUAL_IS_DY) backAlias = ReluBackwardAlias.SEPARATE;
      NormShape s = c.s();
      int C = s.channels(), n = (int) s.size(), off = c.xOff();
      float[] x = data(s, c.values(), off, c.seed()), res = withResidual ? data(s, Values.NORMAL, off, c.seed() + 3) : null;
      float[] gamma = c.gamma() ? Reference.perChannel(C, 1, 0.5, c.seed() + 1) : null;
      float[] beta = c.beta() ? Reference.perChannel(C, 0, 1, c.seed() + 2) : null;
      float[] mean = new float[C], var = new float[C], inv = new float[C];
      float[] xIn = x.clone(), resIn = res == null ? null : res.clone();
      float[] y = switch (alias) {
        case SEPARATE -> new float[x.length];
        case Y_IS_X -> xIn;
        case Y_IS_RESIDUAL -> resIn;
      };
      BatchNormRelu.forwardTraining(c.k(), fused, s, xIn, off, resIn, off, gamma, beta, EPS, y, off, mean, var, inv);
      double[][] st = Reference.moments(s, x, off);
      double[] bn = Reference.normalize(s, x, off, st[0], st[1], EPS, gamma, beta);
      double[] expected = new double[n];
      for (int i = 0; i < n; i++) expected[i] = Math.max(0, bn[i] + (res == null ? 0 : res[off + i]));
      for (int o = 0; o < s.outer(); o++) {
        for (int ch = 0; ch < C; ch++) {
          Tol t = Tol.of(st[0][ch], st[1][ch]);
          double g = Math.abs(gamma == null ? 1 : gamma[ch]), b = beta == null ? 0 : beta[ch];
          for (int i = 0; i < s.inner(); i++) {
            int idx = Reference.index(s, o, ch, i);
            double r = res == null ? 0 : Math.abs(res[off + idx]);
            assertClose("y at " + idx, expected[idx], y[off + idx], yTolerance(t, bn[idx], b, g, x[off + idx], st[0][ch], r));
          }
        }
      }
      if (alias == ReluAlias.Y_IS_X) return; // the backward needs x and y both: nothing more to check

      float[] dy = data(s, Values.NORMAL, off, c.seed() + 5), dyIn = dy.clone(), yIn = y.clone(), xB = x.clone();
      float[] dx = switch (backAlias) {
        case DX_IS_DY -> dyIn;
        case DX_IS_X -> xB;
        case DX_IS_Y -> yIn;
        default -> new float[x.length];
      };
      float[] dRes = !withResidual ? null : backAlias == ReluBackwardAlias.DRESIDUAL_IS_DY ? dyIn : new float[x.length];
      float[] dGamma = new float[C], dBeta = new float[C];
      BatchNormRelu.backward(fused, s, xB, off, yIn, off, dyIn, off, gamma, mean, inv, dx, off, dRes, off, dGamma, dBeta);
      float[] g = new float[dy.length];
      for (int i = 0; i < n; i++) g[off + i] = y[off + i] > 0 ? dy[off + i] : 0f;
      if (withResidual) assertArrayEquals(Arrays.copyOfRange(g, off, off + n), Arrays.copyOfRange(dRes, off, off + n), "dResidual");
      assertBackward(s, x, g, off, gamma, st, mean, Reference.backward(s, x, off, g, off, gamma, EPS), dx, off, dGamma, dBeta);
    });
  }

  // ------------------------------------------------------------------ blocked layout

  @Test
  void blockedLayoutMatchesReference() {
    PropertyCheck.forAll("blocked", 50, r -> new Object[] {forwardCase(r), PropertyCheck.oneOf(r, 8, 16)}, args -> {
      Case c = (Case) args[0];
      int block = (Integer) args[1];
      NormShape s = NormShape.channelsFirst(Math.min(c.s().outer(), 9), c.s().channels(), Math.min(c.s().inner(), 200));
      BlockedShape b = new BlockedShape(s.outer(), s.channels(), s.inner(), block);
      int C = s.channels(), n = (int) s.size(), off = c.xOff();
      float[] x = data(s, c.values(), off, c.seed()), nhwc = new float[n], back = new float[n + off];
      float[] xb = new float[b.size() + off], viaNhwc = new float[b.size()];
      BlockedLayout.fromNchw(b, x, off, xb, off);
      BlockedLayout.toNchw(b, xb, off, back, off);
      assertArrayEquals(Arrays.copyOfRange(x, off, off + n), Arrays.copyOfRange(back, off, off + n), "NCHW -> blocked -> NCHW");
      BlockedLayout.toNhwc(b, xb, off, nhwc, 0);
      BlockedLayout.fromNhwc(b, nhwc, 0, viaNhwc, 0);
      assertArrayEquals(Arrays.copyOfRange(xb, off, off + b.size()), viaNhwc, "blocked -> NHWC -> blocked");

      float[] gamma = c.gamma() ? Reference.perChannel(C, 1, 0.5, c.seed() + 1) : null;
      float[] beta = c.beta() ? Reference.perChannel(C, 0, 1, c.seed() + 2) : null;
      float[] mean = new float[C], var = new float[C], inv = new float[C];
      float[] yb = c.inPlace() ? xb.clone() : new float[b.size() + off];
      BlockedLayout.forwardTraining(c.k(), b, c.inPlace() ? yb : xb, off, gamma, beta, EPS, yb, off, mean, var, inv);
      double[][] ref = Reference.moments(s, x, off);
      assertStatistics(ref, mean, var, inv);
      float[] y = new float[n];
      BlockedLayout.toNchw(b, yb, off, y, 0);
      assertOutput(s, x, off, ref, gamma, beta, Reference.normalize(s, x, off, ref[0], ref[1], EPS, gamma, beta), y, 0);
      for (int k = 0; k < b.batch(); k++) { // padding lanes of y are 0
        for (int ch = C; ch < b.channelBlocks() * block; ch++) {
          for (int sp = 0; sp < b.spatial(); sp++) {
            assertEquals(0f, yb[off + ((k * b.channelBlocks() + ch / block) * b.spatial() + sp) * block + ch % block]);
          }
        }
      }
      float[] dy = data(s, Values.NORMAL, off, c.seed() + 5), dyb = new float[b.size() + off], dGamma = new float[C], dBeta = new float[C];
      BlockedLayout.fromNchw(b, dy, off, dyb, off);
      float[] dxb = c.inPlace() ? dyb : new float[b.size() + off], dx = new float[n];
      BlockedLayout.backward(b, xb, off, dyb, off, gamma, mean, inv, dxb, off, dGamma, dBeta);
      BlockedLayout.toNchw(b, dxb, off, dx, 0);
      assertBackward(s, x, dy, off, gamma, ref, mean, Reference.backward(s, x, off, dy, off, gamma, EPS), dx, 0, dGamma, dBeta);
    });
  }

  // ------------------------------------------------------------------ parallel, several chunks

  static final List<ParallelBatchNorm> PARALLEL = new ArrayList<>();

  @AfterAll
  static void closePools() {
    PARALLEL.forEach(ParallelBatchNorm::close);
  }

  /** Shapes of more than one 1 MiB chunk, so the chunk merge runs; fewer tries, as each is large. */
  @Test
  void parallelMatchesReference() {
    for (Kernels k : KERNELS) PARALLEL.add(new ParallelBatchNorm(k.impl(), 2));
    PropertyCheck.forAll("parallel", 6, r -> {
      int C = PropertyCheck.dimension(r, 64);
      int count = (ParallelBatchNorm.CHUNK_FLOATS + 1 + r.nextInt(ParallelBatchNorm.CHUNK_FLOATS)) / C;
      NormShape s = r.nextBoolean() ? NormShape.channelsLast(count, C) : NormShape.channelsFirst(1 + r.nextInt(3), C, 1 + count / 2);
      return new Object[] {s, PropertyCheck.oneOf(r, Values.values()), r.nextInt(PARALLEL.size()), r.nextLong()};
    }, args -> {
      NormShape s = (NormShape) args[0];
      Values v = (Values) args[1];
      ParallelBatchNorm p = PARALLEL.get((Integer) args[2]);
      long seed = (Long) args[3];
      int C = s.channels(), n = (int) s.size();
      float[] x = data(s, v, 3, seed), gamma = Reference.perChannel(C, 1, 0.5, seed + 1), beta = Reference.perChannel(C, 0, 1, seed + 2);
      float[] y = new float[n], mean = new float[C], var = new float[C], inv = new float[C];
      p.forwardTraining(s, x, 3, gamma, beta, EPS, y, 0, mean, var, inv);
      double[][] ref = Reference.moments(s, x, 3);
      assertStatistics(ref, mean, var, inv);
      assertOutput(s, x, 3, ref, gamma, beta, Reference.normalize(s, x, 3, ref[0], ref[1], EPS, gamma, beta), y, 0);
      float[] dy = data(s, Values.NORMAL, 3, seed + 5), dx = new float[n], dGamma = new float[C], dBeta = new float[C];
      p.backward(s, x, 3, dy, 3, gamma, mean, inv, dx, 0, dGamma, dBeta);
      assertBackward(s, x, dy, 3, gamma, ref, mean, Reference.backward(s, x, 3, dy, 3, gamma, EPS), dx, 0, dGamma, dBeta);
    });
  }
}
