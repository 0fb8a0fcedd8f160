// The three bots a player can choose and the model family behind each (SPEC §4, §12).

export const OPPONENTS = [
  { policy: "brian", name: "Brian", emoji: "🧠", family: "feedforward_nn", kind: "Neural network" },
  { policy: "forrest", name: "Forrest", emoji: "🌲", family: "xgboost", kind: "XGBoost" },
  { policy: "logan", name: "Logan", emoji: "🪵", family: "multinomial_logistic",
    kind: "Logistic regression" },
];

export function opponentByPolicy(policy) {
  return OPPONENTS.find((o) => o.policy === policy) || OPPONENTS[0];
}

export function opponentByFamily(family) {
  return OPPONENTS.find((o) => o.family === family) || null;
}

export const MOVES = ["rock", "paper", "scissors"];
export const MOVE_ICONS = { rock: "✊", paper: "✋", scissors: "✌️" };
export const MOVE_NAMES = { rock: "Rock", paper: "Paper", scissors: "Scissors" };
