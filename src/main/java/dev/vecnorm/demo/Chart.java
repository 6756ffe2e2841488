package dev.vecnorm.demo;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/** Line charts drawn with Java2D and written as PNG by ImageIO: no chart library needed. */
final class Chart {
  record Series(String label, List<Double> values, Color color, boolean dashed) {}

  record Panel(String title, String yLabel, List<Series> series) {}

  private Chart() {}

  static void write(Path file, String title, List<Panel> panels) throws IOException {
    int panelW = 560, panelH = 420, top = 50;
    BufferedImage img = new BufferedImage(panelW * panels.size(), panelH + top, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, img.getWidth(), img.getHeight());
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
    g.drawString(title, 20, 30);
    for (int p = 0; p < panels.size(); p++) drawPanel(g, panels.get(p), p * panelW, top, panelW, panelH);
    g.dispose();
    if (!ImageIO.write(img, "png", file.toFile())) throw new IOException("no PNG writer available");
  }

  private static void drawPanel(Graphics2D g, Panel panel, int x0, int y0, int w, int h) {
    int left = x0 + 60, right = x0 + w - 20, top = y0 + 30, bottom = y0 + h - 110;
    double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
    int points = 0;
    for (Series s : panel.series()) {
      for (double v : s.values()) {
        if (Double.isFinite(v)) {
          min = Math.min(min, v);
          max = Math.max(max, v);
        }
      }
      points = Math.max(points, s.values().size());
    }
    if (!(max > min)) {
      max = min + 1;
    }
    double pad = (max - min) * 0.05;
    min -= pad;
    max += pad;
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
    g.setColor(Color.BLACK);
    g.drawString(panel.title(), left, top - 10);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    for (int i = 0; i <= 5; i++) {
      double v = min + (max - min) * i / 5;
      int y = bottom - (int) ((bottom - top) * (double) i / 5);
      g.setColor(new Color(230, 230, 230));
      g.drawLine(left, y, right, y);
      g.setColor(Color.DARK_GRAY);
      g.drawString(String.format(Locale.ROOT, "%.3f", v), x0 + 8, y + 4);
    }
    g.setColor(Color.BLACK);
    g.drawLine(left, bottom, right, bottom);
    g.drawLine(left, top, left, bottom);
    for (int e = 0; e < points; e++) {
      int x = points == 1 ? left : left + (right - left) * e / (points - 1);
      g.drawString(String.valueOf(e + 1), x - 3, bottom + 15);
    }
    g.drawString("epoch", (left + right) / 2 - 15, bottom + 30);
    int legendY = bottom + 50;
    for (int si = 0; si < panel.series().size(); si++) {
      Series s = panel.series().get(si);
      g.setColor(s.color());
      g.setStroke(s.dashed() ? new BasicStroke(2.2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 1f, new float[] {8, 5}, 0)
          : new BasicStroke(2.2f));
      int prevX = -1, prevY = -1;
      for (int e = 0; e < s.values().size(); e++) {
        double v = s.values().get(e);
        if (!Double.isFinite(v)) {
          prevX = -1;
          continue;
        }
        int x = points == 1 ? left : left + (right - left) * e / (points - 1);
        int y = bottom - (int) ((v - min) / (max - min) * (bottom - top));
        if (prevX >= 0) g.drawLine(prevX, prevY, x, y);
        g.fillOval(x - 3, y - 3, 6, 6);
        prevX = x;
        prevY = y;
      }
      int lx = left + (si % 2) * 240, ly = legendY + (si / 2) * 18;
      g.drawLine(lx, ly - 4, lx + 30, ly - 4);
      g.setStroke(new BasicStroke(1f));
      g.setColor(Color.BLACK);
      g.drawString(s.label(), lx + 36, ly);
    }
    g.setStroke(new BasicStroke(1f));
  }
}
