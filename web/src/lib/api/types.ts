import type { components } from "./schema";

type S = components["schemas"];
export type EventView = S["EventView"];
export type TicketTypeView = S["TicketTypeView"];
export type BookingView = S["BookingView"];
export type TicketView = S["TicketView"];
export type ProfileView = S["ProfileView"];
export type CheckoutView = S["CheckoutView"];
export type PaymentView = S["PaymentView"];
