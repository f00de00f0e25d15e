/* The double-pole physics of Stanley's NEAT C++ (f3270/NEAT at abab42c, src/experiments.cpp: CartPole::step,
   CartPole::rk4 and CartPole::performAction's RK4 branch; constants from include/experiments.h), transcribed with
   its arithmetic unchanged, as the reference tests/tasks/test_poles.py compares evolstm's pole task against.
   Reads "x x_dot theta1 theta1_dot theta2 theta2_dot" then one action (NEAT's output in [0, 1]) per line, and prints
   the state after each action with 17 significant digits. */
#include <math.h>
#include <stdio.h>

static const double MUP = 0.000002;
static const double GRAVITY = -9.8;
static const double MASSCART = 1.0;
static const double MASSPOLE_1 = 0.1;
static const double LENGTH_1 = 0.5; /* actually half the pole's length */
static const double FORCE_MAG = 10.0;
static const double TAU = 0.01;
static const double LENGTH_2 = 0.05;
static const double MASSPOLE_2 = 0.01;

static void step(double action, double *st, double *derivs) {
  double force, costheta_1, costheta_2, sintheta_1, sintheta_2, gsintheta_1, gsintheta_2, temp_1, temp_2, ml_1,
      ml_2, fi_1, fi_2, mi_1, mi_2;
  force = (action - 0.5) * FORCE_MAG * 2;
  costheta_1 = cos(st[2]);
  sintheta_1 = sin(st[2]);
  gsintheta_1 = GRAVITY * sintheta_1;
  costheta_2 = cos(st[4]);
  sintheta_2 = sin(st[4]);
  gsintheta_2 = GRAVITY * sintheta_2;
  ml_1 = LENGTH_1 * MASSPOLE_1;
  ml_2 = LENGTH_2 * MASSPOLE_2;
  temp_1 = MUP * st[3] / ml_1;
  temp_2 = MUP * st[5] / ml_2;
  fi_1 = (ml_1 * st[3] * st[3] * sintheta_1) + (0.75 * MASSPOLE_1 * costheta_1 * (temp_1 + gsintheta_1));
  fi_2 = (ml_2 * st[5] * st[5] * sintheta_2) + (0.75 * MASSPOLE_2 * costheta_2 * (temp_2 + gsintheta_2));
  mi_1 = MASSPOLE_1 * (1 - (0.75 * costheta_1 * costheta_1));
  mi_2 = MASSPOLE_2 * (1 - (0.75 * costheta_2 * costheta_2));
  derivs[1] = (force + fi_1 + fi_2) / (mi_1 + mi_2 + MASSCART);
  derivs[3] = -0.75 * (derivs[1] * costheta_1 + gsintheta_1 + temp_1) / LENGTH_1;
  derivs[5] = -0.75 * (derivs[1] * costheta_2 + gsintheta_2 + temp_2) / LENGTH_2;
}

static void rk4(double f, double y[], double dydx[], double yout[]) {
  int i;
  double hh, h6, dym[6], dyt[6], yt[6];
  hh = TAU * 0.5;
  h6 = TAU / 6.0;
  for (i = 0; i <= 5; i++) yt[i] = y[i] + hh * dydx[i];
  step(f, yt, dyt);
  dyt[0] = yt[1];
  dyt[2] = yt[3];
  dyt[4] = yt[5];
  for (i = 0; i <= 5; i++) yt[i] = y[i] + hh * dyt[i];
  step(f, yt, dym);
  dym[0] = yt[1];
  dym[2] = yt[3];
  dym[4] = yt[5];
  for (i = 0; i <= 5; i++) {
    yt[i] = y[i] + TAU * dym[i];
    dym[i] += dyt[i];
  }
  step(f, yt, dyt);
  dyt[0] = yt[1];
  dyt[2] = yt[3];
  dyt[4] = yt[5];
  for (i = 0; i <= 5; i++) yout[i] = y[i] + h6 * (dydx[i] + dyt[i] + 2.0 * dym[i]);
}

int main(void) {
  double state[6], dydx[6], output;
  int i;
  for (i = 0; i < 6; i++)
    if (scanf("%lf", &state[i]) != 1) return 1;
  while (scanf("%lf", &output) == 1) {
    for (i = 0; i < 2; ++i) {
      dydx[0] = state[1];
      dydx[2] = state[3];
      dydx[4] = state[5];
      step(output, state, dydx);
      rk4(output, state, dydx, state);
    }
    printf("%.17g %.17g %.17g %.17g %.17g %.17g\n", state[0], state[1], state[2], state[3], state[4], state[5]);
  }
  return 0;
}
