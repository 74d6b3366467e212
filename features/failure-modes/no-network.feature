@failure-mode @scenario-no-network
Feature: No network
  The PC has no network; the first request fails to resolve the sign-in host (80072ee7).
  Guide section: AzureAdJoined : NO after setup

  Scenario: No network: the symptom
    Given the scenario "no-network"
    When the user tries to join the PC as the scenario describes
    Then Settings shows the error code "80072ee7"
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune

  Scenario: No network: the fix repairs it
    Given the scenario "no-network"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
